{{ config(materialized='incremental') }}
/* emulator: runtime_ms={{ var('runtime_ms') }} */
select order_id, customer_id, order_date, status, amount
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where order_id > (select coalesce(max(order_id), 0) from {{ this }})
{% endif %}
