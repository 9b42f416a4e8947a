-- ISO 4217 currencies Holdfast sells in, with their minor-unit exponent: amounts are stored in
-- minor units, so 1250 is £12.50 (exponent 2), ¥1250 (exponent 0) or 1.250 BHD (exponent 3).
-- Clients format with the exponent; nobody guesses it from the code.
create table currency (
  code     char(3) not null constraint currency_pk primary key constraint currency_code_ck check (code ~ '^[A-Z]{3}$'),
  exponent smallint not null constraint currency_exponent_ck check (exponent between 0 and 4),
  name     text not null
);

insert into currency (code, exponent, name) values
  ('AED', 2, 'UAE Dirham'), ('ARS', 2, 'Argentine Peso'), ('AUD', 2, 'Australian Dollar'), ('BGN', 2, 'Bulgarian Lev'),
  ('BHD', 3, 'Bahraini Dinar'), ('BIF', 0, 'Burundi Franc'), ('BRL', 2, 'Brazilian Real'), ('CAD', 2, 'Canadian Dollar'),
  ('CHF', 2, 'Swiss Franc'), ('CLP', 0, 'Chilean Peso'), ('CNY', 2, 'Yuan Renminbi'), ('COP', 2, 'Colombian Peso'),
  ('CZK', 2, 'Czech Koruna'), ('DJF', 0, 'Djibouti Franc'), ('DKK', 2, 'Danish Krone'), ('EGP', 2, 'Egyptian Pound'),
  ('ETB', 2, 'Ethiopian Birr'), ('EUR', 2, 'Euro'), ('GBP', 2, 'Pound Sterling'), ('GNF', 0, 'Guinean Franc'),
  ('HKD', 2, 'Hong Kong Dollar'), ('HUF', 2, 'Forint'), ('IDR', 2, 'Rupiah'), ('ILS', 2, 'New Israeli Sheqel'),
  ('INR', 2, 'Indian Rupee'), ('IQD', 3, 'Iraqi Dinar'), ('ISK', 0, 'Iceland Krona'), ('JOD', 3, 'Jordanian Dinar'),
  ('JPY', 0, 'Yen'), ('KES', 2, 'Kenyan Shilling'), ('KMF', 0, 'Comorian Franc'), ('KRW', 0, 'Won'),
  ('KWD', 3, 'Kuwaiti Dinar'), ('LYD', 3, 'Libyan Dinar'), ('MAD', 2, 'Moroccan Dirham'), ('MXN', 2, 'Mexican Peso'),
  ('MYR', 2, 'Malaysian Ringgit'), ('NGN', 2, 'Naira'), ('NOK', 2, 'Norwegian Krone'), ('NZD', 2, 'New Zealand Dollar'),
  ('OMR', 3, 'Rial Omani'), ('PEN', 2, 'Sol'), ('PHP', 2, 'Philippine Peso'), ('PKR', 2, 'Pakistan Rupee'),
  ('PLN', 2, 'Zloty'), ('PYG', 0, 'Guarani'), ('QAR', 2, 'Qatari Rial'), ('RON', 2, 'Romanian Leu'),
  ('RWF', 0, 'Rwanda Franc'), ('SAR', 2, 'Saudi Riyal'), ('SEK', 2, 'Swedish Krona'), ('SGD', 2, 'Singapore Dollar'),
  ('THB', 2, 'Baht'), ('TND', 3, 'Tunisian Dinar'), ('TRY', 2, 'Turkish Lira'), ('TWD', 2, 'New Taiwan Dollar'),
  ('UGX', 0, 'Uganda Shilling'), ('USD', 2, 'US Dollar'), ('UYU', 2, 'Peso Uruguayo'), ('VND', 0, 'Dong'),
  ('VUV', 0, 'Vatu'), ('XAF', 0, 'CFA Franc BEAC'), ('XOF', 0, 'CFA Franc BCEAO'), ('XPF', 0, 'CFP Franc'),
  ('ZAR', 2, 'Rand');

alter table show add constraint show_currency_fk foreign key (currency) references currency (code);
