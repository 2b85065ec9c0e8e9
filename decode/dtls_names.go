package decode

import (
	"strconv"
	"strings"
)

// ContentType is the type of a DTLS record (IANA TLS ContentType registry).
type ContentType uint8

// Record content types.
const (
	ContentChangeCipherSpec ContentType = 20
	ContentAlert            ContentType = 21
	ContentHandshake        ContentType = 22
	ContentApplicationData  ContentType = 23
	ContentHeartbeat        ContentType = 24
	ContentTLS12CID         ContentType = 25 // RFC 9146 record with a connection ID
	ContentACK              ContentType = 26 // RFC 9147 section 7
)

var contentTypeNames = [...]string{
	ContentChangeCipherSpec: "change_cipher_spec",
	ContentAlert:            "alert",
	ContentHandshake:        "handshake",
	ContentApplicationData:  "application_data",
	ContentHeartbeat:        "heartbeat",
	ContentTLS12CID:         "tls12_cid",
	ContentACK:              "ack",
}

var contentTypeGoNames = [...]string{
	ContentChangeCipherSpec: "ContentChangeCipherSpec",
	ContentAlert:            "ContentAlert",
	ContentHandshake:        "ContentHandshake",
	ContentApplicationData:  "ContentApplicationData",
	ContentHeartbeat:        "ContentHeartbeat",
	ContentTLS12CID:         "ContentTLS12CID",
	ContentACK:              "ContentACK",
}

// Known reports whether t is one of the content types above.
func (t ContentType) Known() bool {
	return int(t) < len(contentTypeNames) && contentTypeNames[t] != ""
}

// String returns the IANA name, e.g. "handshake", or "ContentType(N)".
func (t ContentType) String() string {
	if t.Known() {
		return contentTypeNames[t]
	}
	return "ContentType(" + strconv.Itoa(int(t)) + ")"
}

// GoString returns the Go name of t, e.g. "decode.ContentHandshake".
func (t ContentType) GoString() string {
	if t.Known() {
		return "decode." + contentTypeGoNames[t]
	}
	return "decode.ContentType(" + strconv.Itoa(int(t)) + ")"
}

// HandshakeType is the type of a handshake message (IANA TLS HandshakeType
// registry).
type HandshakeType uint8

// Handshake message types.
const (
	HandshakeHelloRequest             HandshakeType = 0
	HandshakeClientHello              HandshakeType = 1
	HandshakeServerHello              HandshakeType = 2
	HandshakeHelloVerifyRequest       HandshakeType = 3
	HandshakeNewSessionTicket         HandshakeType = 4
	HandshakeEndOfEarlyData           HandshakeType = 5
	HandshakeHelloRetryRequest        HandshakeType = 6
	HandshakeEncryptedExtensions      HandshakeType = 8
	HandshakeRequestConnectionID      HandshakeType = 9
	HandshakeNewConnectionID          HandshakeType = 10
	HandshakeCertificate              HandshakeType = 11
	HandshakeServerKeyExchange        HandshakeType = 12
	HandshakeCertificateRequest       HandshakeType = 13
	HandshakeServerHelloDone          HandshakeType = 14
	HandshakeCertificateVerify        HandshakeType = 15
	HandshakeClientKeyExchange        HandshakeType = 16
	HandshakeClientCertificateRequest HandshakeType = 17
	HandshakeFinished                 HandshakeType = 20
	HandshakeCertificateURL           HandshakeType = 21
	HandshakeCertificateStatus        HandshakeType = 22
	HandshakeSupplementalData         HandshakeType = 23
	HandshakeKeyUpdate                HandshakeType = 24
	HandshakeCompressedCertificate    HandshakeType = 25
	HandshakeEKTKey                   HandshakeType = 26
	HandshakeMessageHash              HandshakeType = 254
)

var handshakeTypeNames = [...]string{
	HandshakeHelloRequest:             "hello_request",
	HandshakeClientHello:              "client_hello",
	HandshakeServerHello:              "server_hello",
	HandshakeHelloVerifyRequest:       "hello_verify_request",
	HandshakeNewSessionTicket:         "new_session_ticket",
	HandshakeEndOfEarlyData:           "end_of_early_data",
	HandshakeHelloRetryRequest:        "hello_retry_request",
	HandshakeEncryptedExtensions:      "encrypted_extensions",
	HandshakeRequestConnectionID:      "request_connection_id",
	HandshakeNewConnectionID:          "new_connection_id",
	HandshakeCertificate:              "certificate",
	HandshakeServerKeyExchange:        "server_key_exchange",
	HandshakeCertificateRequest:       "certificate_request",
	HandshakeServerHelloDone:          "server_hello_done",
	HandshakeCertificateVerify:        "certificate_verify",
	HandshakeClientKeyExchange:        "client_key_exchange",
	HandshakeClientCertificateRequest: "client_certificate_request",
	HandshakeFinished:                 "finished",
	HandshakeCertificateURL:           "certificate_url",
	HandshakeCertificateStatus:        "certificate_status",
	HandshakeSupplementalData:         "supplemental_data",
	HandshakeKeyUpdate:                "key_update",
	HandshakeCompressedCertificate:    "compressed_certificate",
	HandshakeEKTKey:                   "ekt_key",
	HandshakeMessageHash:              "message_hash",
}

var handshakeTypeGoNames = [...]string{
	HandshakeHelloRequest:             "HandshakeHelloRequest",
	HandshakeClientHello:              "HandshakeClientHello",
	HandshakeServerHello:              "HandshakeServerHello",
	HandshakeHelloVerifyRequest:       "HandshakeHelloVerifyRequest",
	HandshakeNewSessionTicket:         "HandshakeNewSessionTicket",
	HandshakeEndOfEarlyData:           "HandshakeEndOfEarlyData",
	HandshakeHelloRetryRequest:        "HandshakeHelloRetryRequest",
	HandshakeEncryptedExtensions:      "HandshakeEncryptedExtensions",
	HandshakeRequestConnectionID:      "HandshakeRequestConnectionID",
	HandshakeNewConnectionID:          "HandshakeNewConnectionID",
	HandshakeCertificate:              "HandshakeCertificate",
	HandshakeServerKeyExchange:        "HandshakeServerKeyExchange",
	HandshakeCertificateRequest:       "HandshakeCertificateRequest",
	HandshakeServerHelloDone:          "HandshakeServerHelloDone",
	HandshakeCertificateVerify:        "HandshakeCertificateVerify",
	HandshakeClientKeyExchange:        "HandshakeClientKeyExchange",
	HandshakeClientCertificateRequest: "HandshakeClientCertificateRequest",
	HandshakeFinished:                 "HandshakeFinished",
	HandshakeCertificateURL:           "HandshakeCertificateURL",
	HandshakeCertificateStatus:        "HandshakeCertificateStatus",
	HandshakeSupplementalData:         "HandshakeSupplementalData",
	HandshakeKeyUpdate:                "HandshakeKeyUpdate",
	HandshakeCompressedCertificate:    "HandshakeCompressedCertificate",
	HandshakeEKTKey:                   "HandshakeEKTKey",
	HandshakeMessageHash:              "HandshakeMessageHash",
}

// Known reports whether t is an assigned handshake type.
func (t HandshakeType) Known() bool {
	return int(t) < len(handshakeTypeNames) && handshakeTypeNames[t] != ""
}

// String returns the IANA name, e.g. "client_hello", or "HandshakeType(N)".
func (t HandshakeType) String() string {
	if t.Known() {
		return handshakeTypeNames[t]
	}
	return "HandshakeType(" + strconv.Itoa(int(t)) + ")"
}

// GoString returns the Go name of t, e.g. "decode.HandshakeClientHello".
func (t HandshakeType) GoString() string {
	if t.Known() {
		return "decode." + handshakeTypeGoNames[t]
	}
	return "decode.HandshakeType(" + strconv.Itoa(int(t)) + ")"
}

// AlertDescription is the description byte of an alert (IANA TLS Alerts
// registry).
type AlertDescription uint8

var alertNames = [...]string{
	0:   "close_notify",
	10:  "unexpected_message",
	20:  "bad_record_mac",
	21:  "decryption_failed",
	22:  "record_overflow",
	30:  "decompression_failure",
	40:  "handshake_failure",
	41:  "no_certificate",
	42:  "bad_certificate",
	43:  "unsupported_certificate",
	44:  "certificate_revoked",
	45:  "certificate_expired",
	46:  "certificate_unknown",
	47:  "illegal_parameter",
	48:  "unknown_ca",
	49:  "access_denied",
	50:  "decode_error",
	51:  "decrypt_error",
	52:  "too_many_cids_requested",
	60:  "export_restriction",
	70:  "protocol_version",
	71:  "insufficient_security",
	80:  "internal_error",
	86:  "inappropriate_fallback",
	90:  "user_canceled",
	100: "no_renegotiation",
	109: "missing_extension",
	110: "unsupported_extension",
	111: "certificate_unobtainable",
	112: "unrecognized_name",
	113: "bad_certificate_status_response",
	114: "bad_certificate_hash_value",
	115: "unknown_psk_identity",
	116: "certificate_required",
	120: "no_application_protocol",
	121: "ech_required",
}

// String returns the IANA name, e.g. "handshake_failure", or "Alert(N)".
func (a AlertDescription) String() string {
	if int(a) < len(alertNames) && alertNames[a] != "" {
		return alertNames[a]
	}
	return "Alert(" + strconv.Itoa(int(a)) + ")"
}

// GoString returns a Go expression for a.
func (a AlertDescription) GoString() string {
	return "decode.AlertDescription(" + strconv.Itoa(int(a)) + ")"
}

// CipherSuite is a TLS/DTLS cipher suite number (IANA TLS Cipher Suites
// registry).
type CipherSuite uint16

// Cipher suites that CoAP deployments use (RFC 7252 section 9, RFC 7925,
// LwM2M, OSCORE/EDHOC profiles). Every other registered suite is named in
// String without a constant of its own.
const (
	TLS_PSK_WITH_AES_128_CCM_8                  CipherSuite = 0xC0A8
	TLS_PSK_WITH_AES_128_CCM                    CipherSuite = 0xC0A4
	TLS_PSK_WITH_AES_128_GCM_SHA256             CipherSuite = 0x00A8
	TLS_PSK_WITH_AES_128_CBC_SHA256             CipherSuite = 0x00AE
	TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8          CipherSuite = 0xC0AE
	TLS_ECDHE_ECDSA_WITH_AES_128_CCM            CipherSuite = 0xC0AC
	TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256     CipherSuite = 0xC02B
	TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256       CipherSuite = 0xC037
	TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 CipherSuite = 0xCCAC
	TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256       CipherSuite = 0xD001
	TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256     CipherSuite = 0xD003
	TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256       CipherSuite = 0xD005
	TLS_ECJPAKE_WITH_AES_128_CCM_8              CipherSuite = 0xC0FF
	TLS_AES_128_GCM_SHA256                      CipherSuite = 0x1301
	TLS_AES_128_CCM_SHA256                      CipherSuite = 0x1304
	TLS_AES_128_CCM_8_SHA256                    CipherSuite = 0x1305
)

// cipherSuiteNames holds the IANA TLS Cipher Suites registry names, plus
// TLS_ECJPAKE_WITH_AES_128_CCM_8 (0xC0FF, private use, deployed by Thread
// and mbed TLS). Draft, vendor and SSL-era values are left out and print
// as numbers.
var cipherSuiteNames = map[CipherSuite]string{
	0x0000: "TLS_NULL_WITH_NULL_NULL",
	0x0001: "TLS_RSA_WITH_NULL_MD5",
	0x0002: "TLS_RSA_WITH_NULL_SHA",
	0x0003: "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
	0x0004: "TLS_RSA_WITH_RC4_128_MD5",
	0x0005: "TLS_RSA_WITH_RC4_128_SHA",
	0x0006: "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5",
	0x0007: "TLS_RSA_WITH_IDEA_CBC_SHA",
	0x0008: "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
	0x0009: "TLS_RSA_WITH_DES_CBC_SHA",
	0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
	0x000B: "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA",
	0x000C: "TLS_DH_DSS_WITH_DES_CBC_SHA",
	0x000D: "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA",
	0x000E: "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA",
	0x000F: "TLS_DH_RSA_WITH_DES_CBC_SHA",
	0x0010: "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA",
	0x0011: "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA",
	0x0012: "TLS_DHE_DSS_WITH_DES_CBC_SHA",
	0x0013: "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
	0x0014: "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
	0x0015: "TLS_DHE_RSA_WITH_DES_CBC_SHA",
	0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
	0x0017: "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5",
	0x0018: "TLS_DH_anon_WITH_RC4_128_MD5",
	0x0019: "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA",
	0x001A: "TLS_DH_anon_WITH_DES_CBC_SHA",
	0x001B: "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA",
	0x001E: "TLS_KRB5_WITH_DES_CBC_SHA",
	0x001F: "TLS_KRB5_WITH_3DES_EDE_CBC_SHA",
	0x0020: "TLS_KRB5_WITH_RC4_128_SHA",
	0x0021: "TLS_KRB5_WITH_IDEA_CBC_SHA",
	0x0022: "TLS_KRB5_WITH_DES_CBC_MD5",
	0x0023: "TLS_KRB5_WITH_3DES_EDE_CBC_MD5",
	0x0024: "TLS_KRB5_WITH_RC4_128_MD5",
	0x0025: "TLS_KRB5_WITH_IDEA_CBC_MD5",
	0x0026: "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA",
	0x0027: "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA",
	0x0028: "TLS_KRB5_EXPORT_WITH_RC4_40_SHA",
	0x0029: "TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5",
	0x002A: "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5",
	0x002B: "TLS_KRB5_EXPORT_WITH_RC4_40_MD5",
	0x002C: "TLS_PSK_WITH_NULL_SHA",
	0x002D: "TLS_DHE_PSK_WITH_NULL_SHA",
	0x002E: "TLS_RSA_PSK_WITH_NULL_SHA",
	0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
	0x0030: "TLS_DH_DSS_WITH_AES_128_CBC_SHA",
	0x0031: "TLS_DH_RSA_WITH_AES_128_CBC_SHA",
	0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
	0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
	0x0034: "TLS_DH_anon_WITH_AES_128_CBC_SHA",
	0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
	0x0036: "TLS_DH_DSS_WITH_AES_256_CBC_SHA",
	0x0037: "TLS_DH_RSA_WITH_AES_256_CBC_SHA",
	0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
	0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
	0x003A: "TLS_DH_anon_WITH_AES_256_CBC_SHA",
	0x003B: "TLS_RSA_WITH_NULL_SHA256",
	0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
	0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
	0x003E: "TLS_DH_DSS_WITH_AES_128_CBC_SHA256",
	0x003F: "TLS_DH_RSA_WITH_AES_128_CBC_SHA256",
	0x0040: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
	0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
	0x0042: "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA",
	0x0043: "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA",
	0x0044: "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA",
	0x0045: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
	0x0046: "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA",
	0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
	0x0068: "TLS_DH_DSS_WITH_AES_256_CBC_SHA256",
	0x0069: "TLS_DH_RSA_WITH_AES_256_CBC_SHA256",
	0x006A: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
	0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
	0x006C: "TLS_DH_anon_WITH_AES_128_CBC_SHA256",
	0x006D: "TLS_DH_anon_WITH_AES_256_CBC_SHA256",
	0x0084: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
	0x0085: "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA",
	0x0086: "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA",
	0x0087: "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA",
	0x0088: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
	0x0089: "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA",
	0x008A: "TLS_PSK_WITH_RC4_128_SHA",
	0x008B: "TLS_PSK_WITH_3DES_EDE_CBC_SHA",
	0x008C: "TLS_PSK_WITH_AES_128_CBC_SHA",
	0x008D: "TLS_PSK_WITH_AES_256_CBC_SHA",
	0x008E: "TLS_DHE_PSK_WITH_RC4_128_SHA",
	0x008F: "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA",
	0x0090: "TLS_DHE_PSK_WITH_AES_128_CBC_SHA",
	0x0091: "TLS_DHE_PSK_WITH_AES_256_CBC_SHA",
	0x0092: "TLS_RSA_PSK_WITH_RC4_128_SHA",
	0x0093: "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA",
	0x0094: "TLS_RSA_PSK_WITH_AES_128_CBC_SHA",
	0x0095: "TLS_RSA_PSK_WITH_AES_256_CBC_SHA",
	0x0096: "TLS_RSA_WITH_SEED_CBC_SHA",
	0x0097: "TLS_DH_DSS_WITH_SEED_CBC_SHA",
	0x0098: "TLS_DH_RSA_WITH_SEED_CBC_SHA",
	0x0099: "TLS_DHE_DSS_WITH_SEED_CBC_SHA",
	0x009A: "TLS_DHE_RSA_WITH_SEED_CBC_SHA",
	0x009B: "TLS_DH_anon_WITH_SEED_CBC_SHA",
	0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
	0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
	0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
	0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
	0x00A0: "TLS_DH_RSA_WITH_AES_128_GCM_SHA256",
	0x00A1: "TLS_DH_RSA_WITH_AES_256_GCM_SHA384",
	0x00A2: "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
	0x00A3: "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
	0x00A4: "TLS_DH_DSS_WITH_AES_128_GCM_SHA256",
	0x00A5: "TLS_DH_DSS_WITH_AES_256_GCM_SHA384",
	0x00A6: "TLS_DH_anon_WITH_AES_128_GCM_SHA256",
	0x00A7: "TLS_DH_anon_WITH_AES_256_GCM_SHA384",
	0x00A8: "TLS_PSK_WITH_AES_128_GCM_SHA256",
	0x00A9: "TLS_PSK_WITH_AES_256_GCM_SHA384",
	0x00AA: "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256",
	0x00AB: "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384",
	0x00AC: "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256",
	0x00AD: "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384",
	0x00AE: "TLS_PSK_WITH_AES_128_CBC_SHA256",
	0x00AF: "TLS_PSK_WITH_AES_256_CBC_SHA384",
	0x00B0: "TLS_PSK_WITH_NULL_SHA256",
	0x00B1: "TLS_PSK_WITH_NULL_SHA384",
	0x00B2: "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256",
	0x00B3: "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384",
	0x00B4: "TLS_DHE_PSK_WITH_NULL_SHA256",
	0x00B5: "TLS_DHE_PSK_WITH_NULL_SHA384",
	0x00B6: "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256",
	0x00B7: "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384",
	0x00B8: "TLS_RSA_PSK_WITH_NULL_SHA256",
	0x00B9: "TLS_RSA_PSK_WITH_NULL_SHA384",
	0x00BA: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256",
	0x00BB: "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA256",
	0x00BC: "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA256",
	0x00BD: "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256",
	0x00BE: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
	0x00BF: "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256",
	0x00C0: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256",
	0x00C1: "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA256",
	0x00C2: "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA256",
	0x00C3: "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256",
	0x00C4: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256",
	0x00C5: "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256",
	0x00C6: "TLS_SM4_GCM_SM3",
	0x00C7: "TLS_SM4_CCM_SM3",
	0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
	0x1301: "TLS_AES_128_GCM_SHA256",
	0x1302: "TLS_AES_256_GCM_SHA384",
	0x1303: "TLS_CHACHA20_POLY1305_SHA256",
	0x1304: "TLS_AES_128_CCM_SHA256",
	0x1305: "TLS_AES_128_CCM_8_SHA256",
	0x5600: "TLS_FALLBACK_SCSV",
	0xC001: "TLS_ECDH_ECDSA_WITH_NULL_SHA",
	0xC002: "TLS_ECDH_ECDSA_WITH_RC4_128_SHA",
	0xC003: "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA",
	0xC004: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
	0xC005: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
	0xC006: "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
	0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
	0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
	0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
	0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
	0xC00B: "TLS_ECDH_RSA_WITH_NULL_SHA",
	0xC00C: "TLS_ECDH_RSA_WITH_RC4_128_SHA",
	0xC00D: "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA",
	0xC00E: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
	0xC00F: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
	0xC010: "TLS_ECDHE_RSA_WITH_NULL_SHA",
	0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
	0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
	0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	0xC015: "TLS_ECDH_anon_WITH_NULL_SHA",
	0xC016: "TLS_ECDH_anon_WITH_RC4_128_SHA",
	0xC017: "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA",
	0xC018: "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
	0xC019: "TLS_ECDH_anon_WITH_AES_256_CBC_SHA",
	0xC01A: "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA",
	0xC01B: "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA",
	0xC01C: "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA",
	0xC01D: "TLS_SRP_SHA_WITH_AES_128_CBC_SHA",
	0xC01E: "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA",
	0xC01F: "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA",
	0xC020: "TLS_SRP_SHA_WITH_AES_256_CBC_SHA",
	0xC021: "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA",
	0xC022: "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA",
	0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
	0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
	0xC025: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
	0xC026: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
	0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
	0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
	0xC029: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
	0xC02A: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
	0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	0xC02D: "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
	0xC02E: "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
	0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	0xC031: "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
	0xC032: "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
	0xC033: "TLS_ECDHE_PSK_WITH_RC4_128_SHA",
	0xC034: "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA",
	0xC035: "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA",
	0xC036: "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA",
	0xC037: "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256",
	0xC038: "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384",
	0xC039: "TLS_ECDHE_PSK_WITH_NULL_SHA",
	0xC03A: "TLS_ECDHE_PSK_WITH_NULL_SHA256",
	0xC03B: "TLS_ECDHE_PSK_WITH_NULL_SHA384",
	0xC03C: "TLS_RSA_WITH_ARIA_128_CBC_SHA256",
	0xC03D: "TLS_RSA_WITH_ARIA_256_CBC_SHA384",
	0xC03E: "TLS_DH_DSS_WITH_ARIA_128_CBC_SHA256",
	0xC03F: "TLS_DH_DSS_WITH_ARIA_256_CBC_SHA384",
	0xC040: "TLS_DH_RSA_WITH_ARIA_128_CBC_SHA256",
	0xC041: "TLS_DH_RSA_WITH_ARIA_256_CBC_SHA384",
	0xC042: "TLS_DHE_DSS_WITH_ARIA_128_CBC_SHA256",
	0xC043: "TLS_DHE_DSS_WITH_ARIA_256_CBC_SHA384",
	0xC044: "TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256",
	0xC045: "TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384",
	0xC046: "TLS_DH_anon_WITH_ARIA_128_CBC_SHA256",
	0xC047: "TLS_DH_anon_WITH_ARIA_256_CBC_SHA384",
	0xC048: "TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256",
	0xC049: "TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384",
	0xC04A: "TLS_ECDH_ECDSA_WITH_ARIA_128_CBC_SHA256",
	0xC04B: "TLS_ECDH_ECDSA_WITH_ARIA_256_CBC_SHA384",
	0xC04C: "TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256",
	0xC04D: "TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384",
	0xC04E: "TLS_ECDH_RSA_WITH_ARIA_128_CBC_SHA256",
	0xC04F: "TLS_ECDH_RSA_WITH_ARIA_256_CBC_SHA384",
	0xC050: "TLS_RSA_WITH_ARIA_128_GCM_SHA256",
	0xC051: "TLS_RSA_WITH_ARIA_256_GCM_SHA384",
	0xC052: "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256",
	0xC053: "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384",
	0xC054: "TLS_DH_RSA_WITH_ARIA_128_GCM_SHA256",
	0xC055: "TLS_DH_RSA_WITH_ARIA_256_GCM_SHA384",
	0xC056: "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256",
	0xC057: "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384",
	0xC058: "TLS_DH_DSS_WITH_ARIA_128_GCM_SHA256",
	0xC059: "TLS_DH_DSS_WITH_ARIA_256_GCM_SHA384",
	0xC05A: "TLS_DH_anon_WITH_ARIA_128_GCM_SHA256",
	0xC05B: "TLS_DH_anon_WITH_ARIA_256_GCM_SHA384",
	0xC05C: "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256",
	0xC05D: "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384",
	0xC05E: "TLS_ECDH_ECDSA_WITH_ARIA_128_GCM_SHA256",
	0xC05F: "TLS_ECDH_ECDSA_WITH_ARIA_256_GCM_SHA384",
	0xC060: "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256",
	0xC061: "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384",
	0xC062: "TLS_ECDH_RSA_WITH_ARIA_128_GCM_SHA256",
	0xC063: "TLS_ECDH_RSA_WITH_ARIA_256_GCM_SHA384",
	0xC064: "TLS_PSK_WITH_ARIA_128_CBC_SHA256",
	0xC065: "TLS_PSK_WITH_ARIA_256_CBC_SHA384",
	0xC066: "TLS_DHE_PSK_WITH_ARIA_128_CBC_SHA256",
	0xC067: "TLS_DHE_PSK_WITH_ARIA_256_CBC_SHA384",
	0xC068: "TLS_RSA_PSK_WITH_ARIA_128_CBC_SHA256",
	0xC069: "TLS_RSA_PSK_WITH_ARIA_256_CBC_SHA384",
	0xC06A: "TLS_PSK_WITH_ARIA_128_GCM_SHA256",
	0xC06B: "TLS_PSK_WITH_ARIA_256_GCM_SHA384",
	0xC06C: "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256",
	0xC06D: "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384",
	0xC06E: "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256",
	0xC06F: "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384",
	0xC070: "TLS_ECDHE_PSK_WITH_ARIA_128_CBC_SHA256",
	0xC071: "TLS_ECDHE_PSK_WITH_ARIA_256_CBC_SHA384",
	0xC072: "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256",
	0xC073: "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384",
	0xC074: "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_CBC_SHA256",
	0xC075: "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_CBC_SHA384",
	0xC076: "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
	0xC077: "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384",
	0xC078: "TLS_ECDH_RSA_WITH_CAMELLIA_128_CBC_SHA256",
	0xC079: "TLS_ECDH_RSA_WITH_CAMELLIA_256_CBC_SHA384",
	0xC07A: "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256",
	0xC07B: "TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384",
	0xC07C: "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256",
	0xC07D: "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384",
	0xC07E: "TLS_DH_RSA_WITH_CAMELLIA_128_GCM_SHA256",
	0xC07F: "TLS_DH_RSA_WITH_CAMELLIA_256_GCM_SHA384",
	0xC080: "TLS_DHE_DSS_WITH_CAMELLIA_128_GCM_SHA256",
	0xC081: "TLS_DHE_DSS_WITH_CAMELLIA_256_GCM_SHA384",
	0xC082: "TLS_DH_DSS_WITH_CAMELLIA_128_GCM_SHA256",
	0xC083: "TLS_DH_DSS_WITH_CAMELLIA_256_GCM_SHA384",
	0xC084: "TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256",
	0xC085: "TLS_DH_anon_WITH_CAMELLIA_256_GCM_SHA384",
	0xC086: "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256",
	0xC087: "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384",
	0xC088: "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_GCM_SHA256",
	0xC089: "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_GCM_SHA384",
	0xC08A: "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256",
	0xC08B: "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384",
	0xC08C: "TLS_ECDH_RSA_WITH_CAMELLIA_128_GCM_SHA256",
	0xC08D: "TLS_ECDH_RSA_WITH_CAMELLIA_256_GCM_SHA384",
	0xC08E: "TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256",
	0xC08F: "TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384",
	0xC090: "TLS_DHE_PSK_WITH_CAMELLIA_128_GCM_SHA256",
	0xC091: "TLS_DHE_PSK_WITH_CAMELLIA_256_GCM_SHA384",
	0xC092: "TLS_RSA_PSK_WITH_CAMELLIA_128_GCM_SHA256",
	0xC093: "TLS_RSA_PSK_WITH_CAMELLIA_256_GCM_SHA384",
	0xC094: "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256",
	0xC095: "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384",
	0xC096: "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256",
	0xC097: "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384",
	0xC098: "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256",
	0xC099: "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384",
	0xC09A: "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256",
	0xC09B: "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384",
	0xC09C: "TLS_RSA_WITH_AES_128_CCM",
	0xC09D: "TLS_RSA_WITH_AES_256_CCM",
	0xC09E: "TLS_DHE_RSA_WITH_AES_128_CCM",
	0xC09F: "TLS_DHE_RSA_WITH_AES_256_CCM",
	0xC0A0: "TLS_RSA_WITH_AES_128_CCM_8",
	0xC0A1: "TLS_RSA_WITH_AES_256_CCM_8",
	0xC0A2: "TLS_DHE_RSA_WITH_AES_128_CCM_8",
	0xC0A3: "TLS_DHE_RSA_WITH_AES_256_CCM_8",
	0xC0A4: "TLS_PSK_WITH_AES_128_CCM",
	0xC0A5: "TLS_PSK_WITH_AES_256_CCM",
	0xC0A6: "TLS_DHE_PSK_WITH_AES_128_CCM",
	0xC0A7: "TLS_DHE_PSK_WITH_AES_256_CCM",
	0xC0A8: "TLS_PSK_WITH_AES_128_CCM_8",
	0xC0A9: "TLS_PSK_WITH_AES_256_CCM_8",
	0xC0AA: "TLS_PSK_DHE_WITH_AES_128_CCM_8",
	0xC0AB: "TLS_PSK_DHE_WITH_AES_256_CCM_8",
	0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
	0xC0AD: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
	0xC0AE: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
	0xC0AF: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
	0xC0B0: "TLS_ECCPWD_WITH_AES_128_GCM_SHA256",
	0xC0B1: "TLS_ECCPWD_WITH_AES_256_GCM_SHA384",
	0xC0B2: "TLS_ECCPWD_WITH_AES_128_CCM_SHA256",
	0xC0B3: "TLS_ECCPWD_WITH_AES_256_CCM_SHA384",
	0xC0B4: "TLS_SHA256_SHA256",
	0xC0B5: "TLS_SHA384_SHA384",
	0xC0FF: "TLS_ECJPAKE_WITH_AES_128_CCM_8",
	0xC100: "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC",
	0xC101: "TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC",
	0xC102: "TLS_GOSTR341112_256_WITH_28147_CNT_IMIT",
	0xC103: "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_L",
	0xC104: "TLS_GOSTR341112_256_WITH_MAGMA_MGM_L",
	0xC105: "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_S",
	0xC106: "TLS_GOSTR341112_256_WITH_MAGMA_MGM_S",
	0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	0xCCAB: "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256",
	0xCCAC: "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
	0xCCAD: "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
	0xCCAE: "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256",
	0xD001: "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256",
	0xD002: "TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384",
	0xD003: "TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256",
	0xD005: "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256",
}

// IsGREASE reports whether s is one of the reserved GREASE values
// (RFC 8701), 0x0A0A, 0x1A1A, ... 0xFAFA.
func (s CipherSuite) IsGREASE() bool {
	return s&0x0f0f == 0x0a0a && s>>8 == s&0xff
}

// Known reports whether s has a name in the registry table.
func (s CipherSuite) Known() bool {
	_, ok := cipherSuiteNames[s]
	return ok
}

// String returns the IANA name, e.g. "TLS_PSK_WITH_AES_128_CCM_8",
// "GREASE(0x1A1A)" for GREASE values, or "CipherSuite(0xD004)".
func (s CipherSuite) String() string {
	if n, ok := cipherSuiteNames[s]; ok {
		return n
	}
	if s.IsGREASE() {
		return "GREASE(" + dtlsHex16(uint16(s)) + ")"
	}
	return "CipherSuite(" + dtlsHex16(uint16(s)) + ")"
}

// GoString returns a Go expression for s, e.g. "decode.CipherSuite(0xC0A8)".
func (s CipherSuite) GoString() string {
	return "decode.CipherSuite(" + dtlsHex16(uint16(s)) + ")"
}

// KeyExchange returns the key exchange of s; see CipherSuiteKeyExchange.
func (s CipherSuite) KeyExchange() KeyExchange { return CipherSuiteKeyExchange(s) }

// KeyExchange is the key exchange method of a cipher suite. It decides the
// layout of ServerKeyExchange and ClientKeyExchange.
type KeyExchange uint8

// Key exchange methods.
const (
	KeyExchangeUnknown  KeyExchange = iota // suite not in the table
	KeyExchangeNone                        // signalling values (SCSV) and TLS_NULL_WITH_NULL_NULL
	KeyExchangeRSA                         // RSA-encrypted premaster secret
	KeyExchangeDH                          // static DH (DH_DSS, DH_RSA)
	KeyExchangeDHE                         // ephemeral DH (DHE_DSS, DHE_RSA, DH_anon)
	KeyExchangeECDH                        // static ECDH (ECDH_ECDSA, ECDH_RSA)
	KeyExchangeECDHE                       // ephemeral ECDH (ECDHE_ECDSA, ECDHE_RSA, ECDH_anon)
	KeyExchangePSK                         // RFC 4279 plain PSK
	KeyExchangeDHEPSK                      // RFC 4279 DHE_PSK
	KeyExchangeRSAPSK                      // RFC 4279 RSA_PSK
	KeyExchangeECDHEPSK                    // RFC 5489 ECDHE_PSK
	KeyExchangeECJPAKE                     // EC J-PAKE (Thread)
	KeyExchangeSRP                         // RFC 5054 SRP
	KeyExchangeTLS13                       // TLS/DTLS 1.3 suite: key exchange is in extensions
	KeyExchangeOther                       // Kerberos, ECCPWD, GOST
)

var keyExchangeNames = [...]string{
	KeyExchangeUnknown:  "unknown",
	KeyExchangeNone:     "none",
	KeyExchangeRSA:      "RSA",
	KeyExchangeDH:       "DH",
	KeyExchangeDHE:      "DHE",
	KeyExchangeECDH:     "ECDH",
	KeyExchangeECDHE:    "ECDHE",
	KeyExchangePSK:      "PSK",
	KeyExchangeDHEPSK:   "DHE_PSK",
	KeyExchangeRSAPSK:   "RSA_PSK",
	KeyExchangeECDHEPSK: "ECDHE_PSK",
	KeyExchangeECJPAKE:  "ECJPAKE",
	KeyExchangeSRP:      "SRP",
	KeyExchangeTLS13:    "TLS1.3",
	KeyExchangeOther:    "other",
}

func (k KeyExchange) String() string {
	if int(k) < len(keyExchangeNames) {
		return keyExchangeNames[k]
	}
	return "KeyExchange(" + strconv.Itoa(int(k)) + ")"
}

// GoString returns a Go expression for k.
func (k KeyExchange) GoString() string {
	return "decode.KeyExchange(" + strconv.Itoa(int(k)) + ")"
}

// PSK reports whether the key exchange authenticates with a pre-shared key,
// so that the ClientKeyExchange starts with the PSK identity in clear.
func (k KeyExchange) PSK() bool {
	return k == KeyExchangePSK || k == KeyExchangeDHEPSK || k == KeyExchangeRSAPSK || k == KeyExchangeECDHEPSK
}

// CipherSuiteKeyExchange returns the key exchange of suite s, worked out
// from its registry name (the part between "TLS_" and "_WITH_"), or
// KeyExchangeUnknown when s is not in the table.
func CipherSuiteKeyExchange(s CipherSuite) KeyExchange {
	name, ok := cipherSuiteNames[s]
	if !ok {
		return KeyExchangeUnknown
	}
	return keyExchangeFromName(name)
}

func keyExchangeFromName(name string) KeyExchange {
	rest, ok := strings.CutPrefix(name, "TLS_")
	if !ok {
		return KeyExchangeUnknown
	}
	kx, _, ok := strings.Cut(rest, "_WITH_")
	if !ok {
		if strings.HasSuffix(rest, "_SCSV") {
			return KeyExchangeNone
		}
		// TLS 1.3 suites name only the AEAD and hash.
		return KeyExchangeTLS13
	}
	kx = strings.TrimSuffix(kx, "_EXPORT")
	switch kx {
	case "NULL":
		return KeyExchangeNone
	case "RSA":
		return KeyExchangeRSA
	case "DH_DSS", "DH_RSA":
		return KeyExchangeDH
	case "DHE_DSS", "DHE_RSA", "DH_anon":
		return KeyExchangeDHE
	case "ECDH_ECDSA", "ECDH_RSA":
		return KeyExchangeECDH
	case "ECDHE_ECDSA", "ECDHE_RSA", "ECDH_anon":
		return KeyExchangeECDHE
	case "PSK":
		return KeyExchangePSK
	case "DHE_PSK", "PSK_DHE":
		return KeyExchangeDHEPSK
	case "RSA_PSK":
		return KeyExchangeRSAPSK
	case "ECDHE_PSK":
		return KeyExchangeECDHEPSK
	case "ECJPAKE":
		return KeyExchangeECJPAKE
	case "SRP_SHA", "SRP_SHA_RSA", "SRP_SHA_DSS":
		return KeyExchangeSRP
	}
	return KeyExchangeOther
}

// dtlsHex16 formats v as 0x followed by four upper-case hex digits.
func dtlsHex16(v uint16) string {
	const digits = "0123456789ABCDEF"
	var b [6]byte
	b[0], b[1] = '0', 'x'
	for i := 5; i >= 2; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}
