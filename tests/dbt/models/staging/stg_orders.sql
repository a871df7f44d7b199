/* emulator: runtime_ms={{ var('runtime_ms') }} */
select
    order_id,
    customer_id,
    cast(ordered_at as date) as order_date,
    status,
    cast(amount as decimal(10, 2)) as amount
from {{ ref('orders') }}
