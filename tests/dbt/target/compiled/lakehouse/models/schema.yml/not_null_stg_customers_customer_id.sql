
    
    



select customer_id
from "lake"."analytics"."stg_customers"
where customer_id is null


