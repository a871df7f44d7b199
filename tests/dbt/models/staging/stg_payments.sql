/* emulator: runtime_ms={{ var('runtime_ms') }} */
select
    payment_id,
    order_id,
    method,
    cast(amount as decimal(10, 2)) as amount
from {{ ref('payments') }}
