#!/usr/bin/env python3
"""Verify a redact receipt without redact.

Usage: verify_receipt.py OUTPUT [--receipt R] [--public-key PEM]

Needs Python 3 and the `cryptography` package. Prints one line and exits 0 if the receipt is
validly signed and describes OUTPUT byte for byte, 1 otherwise. See docs/receipt.md.
"""
import argparse
import base64
import binascii
import hashlib
import json
import os
import sys

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://redact.dev/receipt/v1"


class Failed(Exception):
    pass


def b64(text, what):
    """Strict standard base64 (no whitespace, canonical padding)."""
    if not isinstance(text, str):
        raise Failed(f"{what} is not a string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Failed(f"{what} is not valid base64")
    if base64.b64encode(data).decode("ascii") != text:
        raise Failed(f"{what} is not canonical base64")
    return data


def pae(payload_type, payload):
    """DSSE pre-authentication encoding."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sha256_file(path):
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def verify(output, receipt, public_key_pem):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        with open(receipt, "rb") as f:
            envelope = json.loads(f.read())
    except FileNotFoundError:
        raise Failed(f"{receipt}: receipt not found")
    except (ValueError, UnicodeDecodeError) as e:
        raise Failed(f"{receipt}: not valid JSON: {e}")
    if not isinstance(envelope, dict):
        raise Failed(f"{receipt}: not a DSSE envelope")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise Failed(f"{receipt}: payloadType is {envelope.get('payloadType')!r}, expected {PAYLOAD_TYPE!r}")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict):
        raise Failed(f"{receipt}: expected exactly one signature")
    payload = b64(envelope.get("payload"), "payload")
    sig = b64(sigs[0].get("sig"), "signature")

    try:
        statement = json.loads(payload)
        predicate = statement["predicate"]
        raw_key = b64(predicate["signer"]["public_key"], "signer.public_key")
        key_id = predicate["signer"]["key_id"]
        subjects = statement["subject"]
    except (ValueError, KeyError, TypeError) as e:
        raise Failed(f"{receipt}: payload is not a receipt statement: {e!r}")
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise Failed(f"{receipt}: not a redact receipt statement")
    if len(raw_key) != 32:
        raise Failed(f"{receipt}: signer.public_key is not 32 bytes")

    # keyid = hex SHA-256 of the raw 32-byte public key.
    expected_id = hashlib.sha256(raw_key).hexdigest()
    if sigs[0].get("keyid") != expected_id or key_id != expected_id:
        raise Failed(f"{receipt}: keyid does not match the embedded public key ({expected_id})")

    # The signature covers PAE(payloadType, payload bytes).
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(sig, pae(envelope["payloadType"], payload))
    except InvalidSignature:
        raise Failed(f"{receipt}: Ed25519 signature is invalid")

    if public_key_pem is not None:
        try:
            with open(public_key_pem, "rb") as f:
                pinned = serialization.load_pem_public_key(f.read())
        except (OSError, ValueError) as e:
            raise Failed(f"{public_key_pem}: cannot read public key: {e}")
        if not isinstance(pinned, Ed25519PublicKey):
            raise Failed(f"{public_key_pem}: not an Ed25519 public key")
        pinned_raw = pinned.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if pinned_raw != raw_key:
            raise Failed(f"{receipt}: signed by key {expected_id}, not the trusted key "
                         f"{hashlib.sha256(pinned_raw).hexdigest()}")

    if not isinstance(subjects, list) or len(subjects) != 1:
        raise Failed(f"{receipt}: expected exactly one subject")
    subject = subjects[0]
    want = subject.get("digest", {}).get("sha256")
    if subject.get("name") != os.path.basename(output):
        raise Failed(f"{output}: receipt is for {subject.get('name')!r}, not {os.path.basename(output)!r}")
    try:
        actual, size = sha256_file(output)
    except OSError as e:
        raise Failed(f"{output}: cannot read output: {e.strerror}")
    if actual != want:
        raise Failed(f"{output}: output SHA-256 hash is {actual}, receipt records {want}")
    if size != predicate.get("output", {}).get("size"):
        raise Failed(f"{output}: output size is {size} bytes, receipt records {predicate.get('output', {}).get('size')}")
    # Whoever signed it, an output that is its own input was not redacted.
    if predicate.get("input", {}).get("sha256") == actual:
        raise Failed(f"{output}: the output is the input itself (the same SHA-256): not redacted")
    return expected_id


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify a redact receipt (DSSE + in-toto) without redact.")
    parser.add_argument("output", help="the redacted output file")
    parser.add_argument("--receipt", help="receipt file (default: OUTPUT.receipt.json)")
    parser.add_argument("--public-key", help="PEM public key the signer must have (pinning)")
    args = parser.parse_args(argv)
    receipt = args.receipt or args.output + ".receipt.json"
    try:
        key_id = verify(args.output, receipt, args.public_key)
    except Failed as e:
        print(f"verification FAILED: {e}")
        return 1
    print(f"OK: {args.output} matches {receipt}, signed by key {key_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
