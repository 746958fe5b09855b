DROP TABLE staff_tokens;
DROP TABLE staff;
