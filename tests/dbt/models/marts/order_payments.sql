/* emulator: runtime_ms={{ var('runtime_ms') }} */
select
    o.order_id,
    o.customer_id,
    o.amount as order_amount,
    p.paid,
    p.payments,
    o.amount - p.paid as balance
from {{ ref('stg_orders') }} o
join (
    select order_id, sum(amount) as paid, count(*) as payments
    from {{ ref('stg_payments') }}
    group by order_id
) p on p.order_id = o.order_id
