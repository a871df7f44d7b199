{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='customer_id') }}
/* emulator: runtime_ms={{ var('runtime_ms') }} */
select customer_id, count(*) as orders, sum(amount) as total
from {{ ref('orders_appended') }}
group by customer_id
