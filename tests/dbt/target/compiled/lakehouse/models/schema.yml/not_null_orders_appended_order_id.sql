
    
    



select order_id
from "lake"."analytics"."orders_appended"
where order_id is null


