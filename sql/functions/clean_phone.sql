-- silver.clean_phone: digits only; 10 digits -> +1 and the digits; 11 starting with 1 -> + and the digits; else NULL.
create or replace function silver.clean_phone(value string)
returns string
as (
    case
        when length(regexp_replace(value, r'[^0-9]', '')) = 10
            then concat('+1', regexp_replace(value, r'[^0-9]', ''))
        when regexp_contains(regexp_replace(value, r'[^0-9]', ''), r'^1[0-9]{10}$')
            then concat('+', regexp_replace(value, r'[^0-9]', ''))
    end
);
