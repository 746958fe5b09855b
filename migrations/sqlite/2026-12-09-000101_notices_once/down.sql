DROP TABLE notices_once;
