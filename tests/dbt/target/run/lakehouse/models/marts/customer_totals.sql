
  
    

    create table "lake"."analytics"."customer_totals"
      
      
    as (
      
/* emulator: runtime_ms=0 */
select customer_id, count(*) as orders, sum(amount) as total
from "lake"."analytics"."orders_appended"
group by customer_id
    );

  