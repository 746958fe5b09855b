//! Diesel table definitions, shared by both backends (see migrations/).

diesel::table! {
    organizations (id) {
        id -> BigInt,
        legal_name -> Text,
        level -> Text,
        status -> Text,
        data -> Text,
        data_changed_at -> Timestamp,
        status_reason -> Nullable<Text>,
        approved_by -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        vetted_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        search_text -> Text,
    }
}

diesel::table! {
    vetting_checks (id) {
        id -> BigInt,
        organization_id -> BigInt,
        kind -> Text,
        passed -> Bool,
        details -> Text,
        performed_by -> Text,
        performed_at -> Timestamp,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        organization_id -> Nullable<BigInt>,
        subject -> Text,
        reason -> Nullable<Text>,
        details -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    eab_credentials (id) {
        id -> BigInt,
        key_id -> Text,
        organization_id -> BigInt,
        hmac_key -> Binary,
        note -> Text,
        single_use -> Bool,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    accounts (id) {
        id -> BigInt,
        key_thumbprint -> Text,
        jwk -> Text,
        contact -> Text,
        status -> Text,
        eab_credential_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        terms_version -> Nullable<Text>,
        terms_accepted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    orders (id) {
        id -> BigInt,
        account_id -> BigInt,
        status -> Text,
        names -> Text,
        profile -> Text,
        not_before -> Nullable<Timestamp>,
        not_after -> Nullable<Timestamp>,
        expires_at -> Timestamp,
        error -> Nullable<Text>,
        gate_refusal -> Nullable<Text>,
        caa_evidence -> Nullable<Text>,
        replaces -> Nullable<Text>,
        lint_report -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    authorizations (id) {
        id -> BigInt,
        account_id -> BigInt,
        identifier -> Text,
        wildcard -> Bool,
        status -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    order_authorizations (order_id, authorization_id) {
        order_id -> BigInt,
        authorization_id -> BigInt,
    }
}

diesel::table! {
    challenges (id) {
        id -> BigInt,
        authorization_id -> BigInt,
        kind -> Text,
        token -> Text,
        status -> Text,
        validated_at -> Nullable<Timestamp>,
        error -> Nullable<Text>,
        validation_records -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    certificates (id) {
        id -> BigInt,
        serial -> Text,
        order_id -> BigInt,
        account_id -> BigInt,
        der -> Binary,
        not_before -> Timestamp,
        not_after -> Timestamp,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revocation_reason -> Nullable<Integer>,
        crl_shard -> Integer,
    }
}

diesel::table! {
    serials (serial) {
        serial -> Text,
        order_id -> BigInt,
        reserved_at -> Timestamp,
    }
}

diesel::table! {
    precertificates (serial) {
        serial -> Text,
        order_id -> BigInt,
        account_id -> BigInt,
        der -> Binary,
        not_before -> Timestamp,
        not_after -> Timestamp,
        crl_shard -> Integer,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revocation_reason -> Nullable<Integer>,
    }
}

diesel::table! {
    crls (shard) {
        shard -> Integer,
        number -> BigInt,
        this_update -> Timestamp,
        next_update -> Timestamp,
        der -> Binary,
        revoked_count -> BigInt,
        generated_at -> Timestamp,
    }
}

diesel::table! {
    blocked_keys (spki_sha256) {
        spki_sha256 -> Text,
        reason -> Text,
        blocked_at -> Timestamp,
    }
}

diesel::table! {
    used_nonces (nonce) {
        nonce -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        secret -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    limit_overrides (organization_id, name) {
        organization_id -> BigInt,
        name -> Text,
        limit_count -> BigInt,
        period_secs -> BigInt,
    }
}

diesel::table! {
    rate_limit_buckets (key) {
        key -> Text,
        tat -> BigInt,
    }
}

diesel::joinable!(accounts -> eab_credentials (eab_credential_id));
diesel::joinable!(eab_credentials -> organizations (organization_id));
diesel::joinable!(limit_overrides -> organizations (organization_id));
diesel::joinable!(vetting_checks -> organizations (organization_id));
diesel::joinable!(orders -> accounts (account_id));
diesel::joinable!(authorizations -> accounts (account_id));
diesel::joinable!(order_authorizations -> orders (order_id));
diesel::joinable!(order_authorizations -> authorizations (authorization_id));
diesel::joinable!(challenges -> authorizations (authorization_id));
diesel::joinable!(certificates -> orders (order_id));
diesel::joinable!(certificates -> accounts (account_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    vetting_checks,
    audit_events,
    eab_credentials,
    accounts,
    orders,
    authorizations,
    order_authorizations,
    challenges,
    certificates,
    serials,
    precertificates,
    crls,
    used_nonces,
    server_secrets,
    blocked_keys,
    leases,
    limit_overrides,
    rate_limit_buckets,
);

diesel::table! {
    staff (id) {
        id -> BigInt,
        name -> Text,
        roles -> Text,
        password_hash -> Text,
        totp_secret -> Binary,
        totp_last_step -> Nullable<BigInt>,
        must_change_password -> Bool,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    staff_tokens (id) {
        id -> BigInt,
        staff_id -> BigInt,
        label -> Text,
        token_prefix -> Text,
        token_sha256 -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_sessions (id_sha256) {
        id_sha256 -> Text,
        staff_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::joinable!(staff_tokens -> staff (staff_id));
diesel::joinable!(staff_sessions -> staff (staff_id));
diesel::allow_tables_to_appear_in_same_query!(staff, staff_tokens, staff_sessions);

diesel::table! {
    outbox (id) {
        id -> BigInt,
        kind -> Text,
        about -> Text,
        recipient -> Text,
        language -> Text,
        subject -> Text,
        body -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        leased_by -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox_attempts (id) {
        id -> BigInt,
        outbox_id -> BigInt,
        attempted_at -> Timestamp,
        instance -> Text,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(outbox_attempts -> outbox (outbox_id));
diesel::allow_tables_to_appear_in_same_query!(outbox, outbox_attempts);

diesel::table! {
    portal_accounts (organization_id) {
        organization_id -> BigInt,
        account_id -> BigInt,
        eab_credential_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    portal_orders (order_id) {
        order_id -> BigInt,
        organization_id -> BigInt,
        csr -> Binary,
        placed_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(portal_orders -> orders (order_id));
// Pairs only: a pair declared twice would be a conflicting impl.
diesel::allow_tables_to_appear_in_same_query!(portal_accounts, portal_orders);
diesel::allow_tables_to_appear_in_same_query!(portal_accounts, accounts);
diesel::allow_tables_to_appear_in_same_query!(portal_accounts, eab_credentials);
diesel::allow_tables_to_appear_in_same_query!(portal_orders, orders);
diesel::allow_tables_to_appear_in_same_query!(portal_orders, certificates);

diesel::table! {
    application_numbers (year) {
        year -> Integer,
        last -> Integer,
    }
}

diesel::table! {
    applications (id) {
        id -> BigInt,
        number -> Text,
        organization_id -> BigInt,
        customer_account_id -> BigInt,
        customer_email -> Text,
        language -> Text,
        kind -> Text,
        status -> Text,
        validity_days -> Integer,
        data -> Text,
        agreement_version -> Text,
        submitted_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        decision_reason -> Nullable<Text>,
    }
}

diesel::table! {
    application_events (id) {
        id -> BigInt,
        application_id -> BigInt,
        at -> Timestamp,
        kind -> Text,
        actor -> Text,
        message -> Nullable<Text>,
    }
}

diesel::table! {
    application_documents (id) {
        id -> BigInt,
        application_id -> BigInt,
        organization_id -> BigInt,
        file_name -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        content -> Binary,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
    }
}

diesel::joinable!(applications -> organizations (organization_id));
diesel::joinable!(application_events -> applications (application_id));
diesel::joinable!(application_documents -> applications (application_id));
diesel::allow_tables_to_appear_in_same_query!(
    applications,
    application_events,
    application_documents,
    organizations
);

diesel::table! {
    customer_accounts (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        verified_at -> Nullable<Timestamp>,
        contact_name -> Text,
        organization_name -> Text,
        department -> Text,
        postal_code -> Text,
        address -> Text,
        phone -> Text,
        fax -> Text,
        language -> Text,
        organization_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    customer_email_tokens (token_sha256) {
        token_sha256 -> Text,
        customer_id -> BigInt,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    customer_sessions (id_sha256) {
        id_sha256 -> Text,
        customer_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    agreement_acceptances (id) {
        id -> BigInt,
        customer_id -> BigInt,
        version -> Text,
        accepted_at -> Timestamp,
        remote_address -> Nullable<Text>,
    }
}

diesel::joinable!(customer_email_tokens -> customer_accounts (customer_id));
diesel::joinable!(customer_sessions -> customer_accounts (customer_id));
diesel::joinable!(agreement_acceptances -> customer_accounts (customer_id));
diesel::allow_tables_to_appear_in_same_query!(
    customer_accounts,
    customer_email_tokens,
    customer_sessions,
    agreement_acceptances
);

diesel::table! {
    seals (organization_id) {
        organization_id -> BigInt,
        seal_id -> Text,
        lookup -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(seals -> organizations (organization_id));
diesel::allow_tables_to_appear_in_same_query!(seals, organizations);

diesel::table! {
    billing_items (certificate_id) {
        certificate_id -> BigInt,
        organization_id -> BigInt,
        serial -> Text,
        level -> Text,
        wildcard -> Bool,
        validity_days -> Integer,
        names -> Text,
        price_yen -> BigInt,
        recipient -> Text,
        recipient_email -> Text,
        language -> Text,
        issued_at -> Timestamp,
        invoice_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    invoices (id) {
        id -> BigInt,
        number -> Text,
        kind -> Text,
        certificate_id -> BigInt,
        credits_invoice_id -> Nullable<BigInt>,
        organization_id -> BigInt,
        serial -> Text,
        issue_date -> Text,
        transaction_date -> Text,
        due_date -> Text,
        recipient -> Text,
        recipient_email -> Text,
        description -> Text,
        amount_yen -> BigInt,
        tax_yen -> BigInt,
        total_yen -> BigInt,
        pdf -> Binary,
        created_at -> Timestamp,
        created_by -> Text,
        reason -> Nullable<Text>,
        paid_at -> Nullable<Timestamp>,
        paid_by -> Nullable<Text>,
    }
}

diesel::table! {
    document_counters (series, year) {
        series -> Text,
        year -> Integer,
        last_number -> BigInt,
    }
}

diesel::table! {
    outbox_attachments (id) {
        id -> BigInt,
        outbox_id -> BigInt,
        filename -> Text,
        content_type -> Text,
        content -> Binary,
    }
}

diesel::joinable!(outbox_attachments -> outbox (outbox_id));
diesel::allow_tables_to_appear_in_same_query!(outbox, outbox_attachments);
diesel::allow_tables_to_appear_in_same_query!(billing_items, invoices);

diesel::table! {
    notices_once (kind, about) {
        kind -> Text,
        about -> Text,
        created_at -> Timestamp,
    }
}
