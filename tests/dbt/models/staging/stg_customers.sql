/* emulator: runtime_ms={{ var('runtime_ms') }} */
select
    customer_id,
    name as customer_name,
    upper(country) as country,
    signed_up,
    vip
from {{ ref('customers') }}
