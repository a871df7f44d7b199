/* emulator: runtime_ms=0 */
select
    order_id,
    customer_id,
    cast(ordered_at as date) as order_date,
    status,
    cast(amount as decimal(10, 2)) as amount
from "lake"."analytics"."orders"