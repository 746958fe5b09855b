DROP TABLE application_documents;
DROP TABLE application_events;
DROP TABLE applications;
DROP TABLE application_numbers;
