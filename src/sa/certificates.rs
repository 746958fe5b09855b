//! Issued certificates.

use diesel::prelude::*;

use super::models::CertificateRow;
use super::schema::certificates;
use super::DbConn;
use crate::core::{Certificate, CertificateId};
use crate::error::Result;

pub fn by_id(conn: &mut DbConn, id: CertificateId) -> Result<Option<Certificate>> {
    Ok(certificates::table
        .find(id.0)
        .select(CertificateRow::as_select())
        .first(conn)
        .optional()?
        .map(CertificateRow::into_core))
}

pub fn by_serial(conn: &mut DbConn, serial: &str) -> Result<Option<Certificate>> {
    Ok(certificates::table
        .filter(certificates::serial.eq(serial))
        .select(CertificateRow::as_select())
        .first(conn)
        .optional()?
        .map(CertificateRow::into_core))
}
