/* emulator: runtime_ms={{ var('runtime_ms') }} */
with orders as (
    select * from {{ ref('stg_orders') }}
    where status <> 'returned'
)
select
    c.customer_id,
    c.customer_name,
    c.country,
    count(o.order_id) as order_count,
    coalesce(sum(o.amount), 0) as revenue,
    min(o.order_date) as first_order,
    case when count(o.order_id) >= 5 then 'frequent' else 'occasional' end as segment
from {{ ref('stg_customers') }} c
left join orders o on o.customer_id = c.customer_id
group by c.customer_id, c.customer_name, c.country
