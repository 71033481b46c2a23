-- silver.clean_email: lower-cased e-mail, NULL unless it matches ^[^@\s]+@[^@\s]+\.[^@\s]+$.
create or replace function silver.clean_email(value string)
returns string
as (
    if(
        regexp_contains(lower(silver.clean_string(value)), r'^[^@\s]+@[^@\s]+\.[^@\s]+$'),
        lower(silver.clean_string(value)),
        null
    )
);
