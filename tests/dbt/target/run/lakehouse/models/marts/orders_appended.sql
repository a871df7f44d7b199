
  
    

    create table "lake"."analytics"."orders_appended"
      
      
    as (
      
/* emulator: runtime_ms=0 */
select order_id, customer_id, order_date, status, amount
from "lake"."analytics"."stg_orders"

    );

  