DROP TABLE precertificates;
DROP TABLE serials;
