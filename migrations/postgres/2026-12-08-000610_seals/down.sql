DROP TABLE seals;
