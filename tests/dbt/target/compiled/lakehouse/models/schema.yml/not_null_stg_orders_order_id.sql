
    
    



select order_id
from "lake"."analytics"."stg_orders"
where order_id is null


