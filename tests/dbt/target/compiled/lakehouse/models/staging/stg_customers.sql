/* emulator: runtime_ms=0 */
select
    customer_id,
    name as customer_name,
    upper(country) as country,
    signed_up,
    vip
from "lake"."analytics"."customers"