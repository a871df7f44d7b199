
    
    



select customer_id
from "lake"."analytics"."customer_orders"
where customer_id is null


