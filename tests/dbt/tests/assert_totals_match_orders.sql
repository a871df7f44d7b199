-- Every order is counted once in customer_totals.
select t.total_orders, o.total_orders
from (select sum(orders) as total_orders from {{ ref('customer_totals') }}) t
cross join (select count(*) as total_orders from {{ ref('stg_orders') }}) o
where t.total_orders <> o.total_orders
