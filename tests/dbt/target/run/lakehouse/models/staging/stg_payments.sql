
  create or replace view
    "lake"."analytics"."stg_payments"
  security definer
  as
    /* emulator: runtime_ms=0 */
select
    payment_id,
    order_id,
    method,
    cast(amount as decimal(10, 2)) as amount
from "lake"."analytics"."payments"
  ;
