//! What a stapled OCSP response says about the server's certificate (RFC 6960).
//!
//! Why by hand: rustls hands the staple over without checking it, and no well-kept crate in the
//! stack parses OCSP; the few DER fields the diagnosis needs (response status, the first
//! SingleResponse's certStatus with revocation time and reason) are a short walk over
//! x509-parser's DER reader. The signature on the response is not verified: a staple is the
//! server's own statement, so a "revoked" here is the server admitting it, never a forgery in
//! its favour. Every function is pure and must never panic on what a server sends (a property
//! test feeds it arbitrary bytes).

use netdiag_core::observe::OcspStatus;
use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::der_parser::der::parse_der;
use x509_parser::prelude::FromDer;
use x509_parser::prelude::X509Certificate;

/// The status the staple gives for the certificate `leaf_der`: the SingleResponse with its
/// serial number (the first one when the leaf does not parse).
pub(crate) fn status_of(staple: &[u8], leaf_der: Option<&[u8]>) -> OcspStatus {
    let serial = leaf_der
        .and_then(|der| X509Certificate::from_der(der).ok())
        .map(|(_, cert)| cert.raw_serial().to_vec());
    match parse(staple, serial.as_deref()) {
        Ok(status) => status,
        Err(why) => OcspStatus::Unparsable(why.to_owned()),
    }
}

type Parsed<T> = Result<T, &'static str>;

fn sequence<'a>(object: &'a BerObject<'a>, what: &'static str) -> Parsed<&'a [BerObject<'a>]> {
    match &object.content {
        BerObjectContent::Sequence(items) => Ok(items),
        _ => Err(what),
    }
}

/// The contents of a context-specific tagged object: an explicit `[n]` holding one DER value.
fn explicit<'a>(object: &'a BerObject<'a>) -> Option<BerObject<'a>> {
    match &object.content {
        BerObjectContent::Unknown(any) => parse_der(any.data).ok().map(|(_, inner)| inner),
        BerObjectContent::Tagged(_, _, inner) => Some((**inner).clone()),
        _ => None,
    }
}

fn parse(staple: &[u8], serial: Option<&[u8]>) -> Parsed<OcspStatus> {
    let (_, response) = parse_der(staple).map_err(|_| "not DER")?;
    let top = sequence(&response, "OCSPResponse is not a SEQUENCE")?;
    let status = top
        .first()
        .and_then(|s| s.as_u32().ok())
        .ok_or("no responseStatus")?;
    if status != 0 {
        return Ok(OcspStatus::ResponderError(responder_error(status)));
    }
    let bytes = top.get(1).and_then(explicit).ok_or("no responseBytes")?;
    let bytes = sequence(&bytes, "responseBytes is not a SEQUENCE")?;
    let basic = bytes
        .get(1)
        .and_then(|o| o.as_slice().ok())
        .ok_or("no response OCTET STRING")?;
    let (_, basic) = parse_der(basic).map_err(|_| "BasicOCSPResponse is not DER")?;
    let basic = sequence(&basic, "BasicOCSPResponse is not a SEQUENCE")?;
    let tbs = basic.first().ok_or("no tbsResponseData")?;
    let tbs = sequence(tbs, "tbsResponseData is not a SEQUENCE")?;
    // version [0] is optional; responses is the first SEQUENCE after responderID and producedAt.
    let responses = tbs
        .iter()
        .filter_map(|o| match &o.content {
            BerObjectContent::Sequence(items)
                if items
                    .iter()
                    .all(|i| matches!(i.content, BerObjectContent::Sequence(_))) =>
            {
                Some(items)
            }
            _ => None,
        })
        .next_back()
        .ok_or("no responses")?;
    // With the leaf's serial known, only its own response counts: a staple about another
    // certificate says nothing about this one.
    let chosen = match serial {
        Some(serial) => responses
            .iter()
            .find(|single| single_serial(single) == Some(serial))
            .ok_or("no response for the server certificate's serial number")?,
        None => responses.first().ok_or("no SingleResponse")?,
    };
    let single = sequence(chosen, "SingleResponse is not a SEQUENCE")?;
    single.get(1).map(cert_status).ok_or("no certStatus")
}

/// The serial number of a SingleResponse's CertID.
fn single_serial<'a>(single: &'a BerObject<'a>) -> Option<&'a [u8]> {
    let BerObjectContent::Sequence(items) = &single.content else {
        return None;
    };
    let BerObjectContent::Sequence(cert_id) = &items.first()?.content else {
        return None;
    };
    match &cert_id.get(3)?.content {
        BerObjectContent::Integer(bytes) => Some(bytes),
        _ => None,
    }
}

/// `CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo,
/// unknown [2] IMPLICIT UnknownInfo }`.
fn cert_status(object: &BerObject<'_>) -> OcspStatus {
    match object.header.tag().0 {
        0 => OcspStatus::Good,
        1 => {
            let data = match &object.content {
                BerObjectContent::Unknown(any) => any.data,
                _ => &[][..],
            };
            revoked_info(data)
        }
        _ => OcspStatus::Unknown,
    }
}

/// `RevokedInfo ::= SEQUENCE { revocationTime GeneralizedTime, revocationReason [0] EXPLICIT
/// CRLReason OPTIONAL }`, given the implicit SEQUENCE's contents.
fn revoked_info(mut data: &[u8]) -> OcspStatus {
    let mut revoked_at = None;
    let mut reason = None;
    // Bounded: every pass consumes one DER object or stops.
    while let Ok((rest, object)) = parse_der(data) {
        match &object.content {
            BerObjectContent::GeneralizedTime(t) => {
                revoked_at = t.to_datetime().ok().map(|d| d.unix_timestamp());
            }
            _ if object.header.tag().0 == 0 => {
                reason = explicit(&object)
                    .and_then(|e| match e.content {
                        BerObjectContent::Enum(code) => Some(code),
                        _ => None,
                    })
                    .map(crl_reason);
            }
            _ => {}
        }
        if rest.len() >= data.len() {
            break;
        }
        data = rest;
    }
    OcspStatus::Revoked { revoked_at, reason }
}

/// RFC 5280 `CRLReason` names.
fn crl_reason(code: u64) -> String {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        other => return format!("reason {other}"),
    }
    .to_owned()
}

/// RFC 6960 `OCSPResponseStatus` names.
fn responder_error(status: u32) -> String {
    match status {
        1 => "malformedRequest",
        2 => "internalError",
        3 => "tryLater",
        5 => "sigRequired",
        6 => "unauthorized",
        other => return format!("status {other}"),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// DER: tag, short length, contents.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        let len = contents.len();
        if len < 0x80 {
            v.push(u8::try_from(len).unwrap());
        } else {
            v.push(0x81);
            v.push(u8::try_from(len).unwrap());
        }
        v.extend_from_slice(contents);
        v
    }

    /// An OCSPResponse with one SingleResponse whose certStatus is `status` (already DER).
    fn response(status: &[u8], serial: u8) -> Vec<u8> {
        let sha1 = tlv(
            0x30,
            &[tlv(0x06, &[0x2b, 0x0e, 0x03, 0x02, 0x1a]), tlv(0x05, &[])].concat(),
        );
        let cert_id = tlv(
            0x30,
            &[
                sha1,
                tlv(0x04, &[1; 20]),
                tlv(0x04, &[2; 20]),
                tlv(0x02, &[serial]),
            ]
            .concat(),
        );
        let this_update = tlv(0x18, b"20261201000000Z");
        let single = tlv(
            0x30,
            &[cert_id, status.to_vec(), this_update.clone()].concat(),
        );
        let responder = tlv(0xa2, &tlv(0x04, &[3; 20]));
        let tbs = tlv(0x30, &[responder, this_update, tlv(0x30, &single)].concat());
        let alg = tlv(
            0x30,
            &[tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])].concat(),
        );
        let basic = tlv(0x30, &[tbs, alg, tlv(0x03, &[0, 1, 2])].concat());
        let oid_basic = tlv(
            0x06,
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01],
        );
        let bytes = tlv(0x30, &[oid_basic, tlv(0x04, &basic)].concat());
        tlv(0x30, &[tlv(0x0a, &[0]), tlv(0xa0, &bytes)].concat())
    }

    #[test]
    fn good_revoked_with_reason_and_unknown() {
        assert_eq!(parse(&response(&[0x80, 0], 7), None), Ok(OcspStatus::Good));
        let revoked = tlv(
            0xa1,
            &[tlv(0x18, b"20261130120000Z"), tlv(0xa0, &tlv(0x0a, &[1]))].concat(),
        );
        assert_eq!(
            parse(&response(&revoked, 7), Some(&[7])),
            Ok(OcspStatus::Revoked {
                revoked_at: Some(1_796_040_000),
                reason: Some("keyCompromise".into())
            })
        );
        let no_reason = tlv(0xa1, &tlv(0x18, b"20261130120000Z"));
        assert!(matches!(
            parse(&response(&no_reason, 7), None),
            Ok(OcspStatus::Revoked {
                reason: None,
                revoked_at: Some(_)
            })
        ));
        assert_eq!(
            parse(&response(&[0x82, 0], 7), None),
            Ok(OcspStatus::Unknown)
        );
    }

    #[test]
    fn responder_errors_and_garbage() {
        let try_later = tlv(0x30, &tlv(0x0a, &[3]));
        assert_eq!(
            parse(&try_later, None),
            Ok(OcspStatus::ResponderError("tryLater".into()))
        );
        assert!(matches!(
            status_of(b"garbage", None),
            OcspStatus::Unparsable(_)
        ));
        assert!(matches!(status_of(&[], None), OcspStatus::Unparsable(_)));
    }

    proptest! {
        #[test]
        fn arbitrary_staples_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = status_of(&bytes, None);
            let _ = status_of(&bytes, Some(&bytes));
        }
    }
}
