#!/usr/bin/python3
"""Sign with a PKCS#11 key through PyKCS11 the way an application does, and check the signature with the token's own
certificate (python3-cryptography).

    pykcs11_sign.py --module M --id 01 --pin-env PIN --data doc.txt --out sig.bin [--count 2]

Mechanism CKM_SHA256_RSA_PKCS (hashing on the host, PKCS#1 v1.5 on the token). A key with CKA_ALWAYS_AUTHENTICATE
(the UZI-pas signature key, PKCS#15 userConsent) gets a context-specific login between C_SignInit and C_Sign for
every signature, as PKCS#11 v2.40 §4.9 requires. Prints one `verified: ...` line per signature and exits 0; any
failure exits non-zero with a message on standard error. Run it with Debian's /usr/bin/python3 (python3-pykcs11).
"""

import argparse
import os
import sys

try:
    import PyKCS11
    from PyKCS11 import LowLevel
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
except ImportError as e:
    sys.exit(f"pykcs11_sign: {e}: apt-get install python3-pykcs11 python3-cryptography, and run /usr/bin/python3")


def fail(message):
    print(f"pykcs11_sign: {message}", file=sys.stderr)
    sys.exit(1)


def find_one(session, cls, key_id):
    found = session.findObjects([(PyKCS11.CKA_CLASS, cls), (PyKCS11.CKA_ID, key_id)])
    if len(found) != 1:
        fail(f"{len(found)} objects of class {PyKCS11.CKO[cls]} with CKA_ID {key_id.hex()} (expected one)")
    return found[0]


def sign_once(session, key, data, pin, always_authenticate):
    """C_SignInit, the context-specific login if the key asks for it, then C_Sign (size query, then the data)."""
    lib = session.lib
    mechanism = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None).to_native()
    rv = lib.C_SignInit(session.session, mechanism, key)
    if rv != PyKCS11.CKR_OK:
        raise PyKCS11.PyKCS11Error(rv)
    if always_authenticate:
        session.login(pin, PyKCS11.CKU_CONTEXT_SPECIFIC)
    signature = LowLevel.ckbytelist()
    message = LowLevel.ckbytelist(data)
    for _ in range(2):
        rv = lib.C_Sign(session.session, message, signature)
        if rv != PyKCS11.CKR_OK:
            raise PyKCS11.PyKCS11Error(rv)
    return bytes(signature)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, help="PKCS#11 module (.so)")
    parser.add_argument("--id", required=True, help="CKA_ID of the key and its certificate, hex (01, 02, ...)")
    parser.add_argument("--pin-env", required=True, help="name of the environment variable holding the user PIN")
    parser.add_argument("--data", required=True, help="file to sign")
    parser.add_argument("--out", required=True, help="where the last signature is written (raw PKCS#1 v1.5)")
    parser.add_argument("--count", type=int, default=1, help="signatures to make in one session")
    args = parser.parse_args()
    pin = os.environ.get(args.pin_env)
    if pin is None:
        fail(f"environment variable {args.pin_env} (the PIN) is not set")
    key_id = bytes.fromhex(args.id)
    with open(args.data, "rb") as f:
        data = f.read()

    lib = PyKCS11.PyKCS11Lib()
    lib.load(args.module)
    slots = lib.getSlotList(tokenPresent=True)
    if not slots:
        fail(f"no token present in {args.module}")
    session = lib.openSession(slots[0], PyKCS11.CKF_SERIAL_SESSION)
    try:
        session.login(pin)
        key = find_one(session, PyKCS11.CKO_PRIVATE_KEY, key_id)
        (key_type, always_authenticate) = session.getAttributeValue(
            key, [PyKCS11.CKA_KEY_TYPE, PyKCS11.CKA_ALWAYS_AUTHENTICATE]
        )
        if key_type != PyKCS11.CKK_RSA:
            fail(f"key {args.id} is {PyKCS11.CKK.get(key_type, key_type)}, not an RSA key")
        cert_der = bytes(session.getAttributeValue(find_one(session, PyKCS11.CKO_CERTIFICATE, key_id), [PyKCS11.CKA_VALUE])[0])
        public_key = x509.load_der_x509_certificate(cert_der).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            fail(f"the certificate of key {args.id} does not hold an RSA key")
        for n in range(args.count):
            signature = sign_once(session, key, data, pin, bool(always_authenticate))
            try:
                public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                fail(f"signature {n + 1} of key {args.id} does not verify with its certificate")
            print(
                f"verified: key {args.id} signature {n + 1} ({len(signature) * 8} bits, "
                f"always-authenticate {bool(always_authenticate)})"
            )
        with open(args.out, "wb") as f:
            f.write(signature)
        session.logout()
    except PyKCS11.PyKCS11Error as e:
        fail(f"PKCS#11 error with key {args.id}: {e}")
    finally:
        session.closeSession()


if __name__ == "__main__":
    main()
