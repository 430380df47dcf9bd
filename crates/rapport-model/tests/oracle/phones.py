#!/usr/bin/env python3
"""Phone cases and libphonenumber's answers, for tests/phone_oracle.rs.

The oracle is `phonenumbers` (the Python port of Google's libphonenumber, pinned by `make
oracles`), asked what our contract asks of `normalize_phone`: `parse(raw, default_region)`, then
`is_valid_number`, then the E.164 format. A parse error or an invalid number means "not a phone"
(`null`). The cases come from the installed package at test time, never from a committed snapshot:

- every region's and every non-geographic entity's example number of every type;
- seeded random valid variants of them (the last digits redrawn until libphonenumber accepts one);
- seeded random mutations that are mostly invalid (a digit dropped or added, the first digit
  changed, letters mixed in); libphonenumber decides each verdict;
- each written in E.164, international and national format, as a `tel:` URI, as libphonenumber
  dials it from the US (`011 …`) and from Germany (`00 …`), with punctuation, and with an
  extension;
- each asked with no default region, with US, DE and GB, and with the number's own region (and
  some with `ZZ` and `001`, which are no regions to parse with);
- inputs just under and just over libphonenumber's 250-character input limit.

Prints one JSON document on stdout. Exits 3 with a message naming `make oracles` when the pinned
package is missing.
"""

import json
import random
import sys

# The libphonenumber metadata release the Rust crate embeds (rlibphonenumber 2.2.15: "Used metadata
# version: v9.0.42"), so that a difference is one of code, not of numbering plans. Bump both
# together, with ORACLE_PIP in the Makefile.
PINNED = "9.0.42"
SEED = 20_240_603
DEFAULT_REGIONS = [None, "US", "DE", "GB"]
# Not regions libphonenumber parses with ("001" names the non-geographic entities): it treats them
# as no default region. Asked of the E.164 and national writings of the example numbers only.
UNKNOWN_REGIONS = ["ZZ", "001"]
# libphonenumber's MAX_INPUT_STRING_LENGTH.
MAX_INPUT = 250



def missing(found):
    print(
        f"the phone oracle needs the Python package phonenumbers=={PINNED} ({found}): "
        "run `make oracles`",
        file=sys.stderr,
    )
    sys.exit(3)


try:
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat
except ImportError:
    missing("not installed")
if phonenumbers.__version__ != PINNED:
    missing(f"found {phonenumbers.__version__}")


def oracle(raw, region):
    """What libphonenumber makes of `raw`: its E.164 form, or None for "not a phone"."""
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def descs(meta):
    return [
        meta.fixed_line,
        meta.mobile,
        meta.toll_free,
        meta.premium_rate,
        meta.shared_cost,
        meta.personal_number,
        meta.voip,
        meta.pager,
        meta.uan,
        meta.voicemail,
    ]


def examples():
    """(region or "001", parsed number) for every example number in the metadata."""
    metas = [(r, PhoneMetadata.metadata_for_region(r)) for r in sorted(phonenumbers.SUPPORTED_REGIONS)]
    metas += [
        ("001", PhoneMetadata.metadata_for_nongeo_region(cc))
        for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    seen = set()
    for region, meta in metas:
        for desc in descs(meta):
            if desc is None or not desc.example_number:
                continue
            number = phonenumbers.parse(f"+{meta.country_code}{desc.example_number}")
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            if e164 not in seen:
                seen.add(e164)
                yield region, number


def nsn_of(number):
    return phonenumbers.national_significant_number(number)


def valid_variant(rng, number):
    """The number with its last digits redrawn, when one of 20 draws is valid."""
    nsn = nsn_of(number)
    keep = max(1, len(nsn) - 4)
    for _ in range(20):
        digits = nsn[:keep] + "".join(rng.choice("0123456789") for _ in nsn[keep:])
        if digits == nsn:
            continue
        candidate = phonenumbers.parse(f"+{number.country_code}{digits}")
        if phonenumbers.is_valid_number(candidate):
            return candidate
    return None


def mutations(rng, number):
    """Raw E.164-like strings near the number, mostly invalid ones."""
    cc, nsn = number.country_code, nsn_of(number)
    position = rng.randrange(len(nsn))
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 4)))
    first = rng.choice([d for d in "0123456789" if d != nsn[0]])
    return [
        ("too_short", f"+{cc}{nsn[:-1]}"),
        ("too_long", f"+{cc}{nsn}{rng.randrange(10)}"),
        ("wrong_prefix", f"+{cc}{first}{nsn[1:]}"),
        ("letters", f"+{cc}{nsn[:position]}{letters}{nsn[position:]}"),
        ("letters_national", f"{nsn[:position]}{letters}{nsn[position:]}"),
    ]


def writings(rng, number):
    """(kind, raw) for each way people write the number."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    cc, nsn = number.country_code, nsn_of(number)
    cut = min(3, len(nsn) - 1)
    return [
        ("e164", e164),
        ("international", international),
        ("national", national),
        ("rfc3966", phonenumbers.format_number(number, PhoneNumberFormat.RFC3966)),
        ("idd_from_us", phonenumbers.format_out_of_country_calling_number(number, "US")),
        ("idd_from_de", phonenumbers.format_out_of_country_calling_number(number, "DE")),
        ("punctuated", f"+{cc} ({nsn[:cut]}) {nsn[cut:cut + 3]}-{nsn[cut + 3:]}"),
        ("national_dotted", national.replace(" ", ".")),
        ("spaced", "  " + " ".join(e164) + " "),
        ("extension", f"{international} ext. {rng.randint(1, 9999)}"),
    ]


def regions_for(own, kind):
    regions = list(DEFAULT_REGIONS)
    if own != "001" and own not in regions:
        regions.append(own)
    if kind in ("example/e164", "example/national"):
        regions.extend(UNKNOWN_REGIONS)
    return regions


def main():
    rng = random.Random(SEED)
    cases = []

    def add(raw, own, kind):
        for region in regions_for(own, kind):
            cases.append(
                {
                    "raw": raw,
                    "default_region": region,
                    "number_region": own,
                    "kind": kind,
                    "expected": oracle(raw, region),
                }
            )

    for own, number in examples():
        variant = valid_variant(rng, number)
        for origin, n in [("example", number), ("variant", variant)]:
            if n is None:
                continue
            for kind, raw in writings(rng, n):
                add(raw, own, f"{origin}/{kind}")
        for kind, raw in mutations(rng, number):
            add(raw, own, f"mutation/{kind}")
        # The input limit counts the raw string, white space included.
        if own in ("US", "DE", "GB"):
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            for length in (MAX_INPUT, MAX_INPUT + 1):
                add(e164 + " " * (length - len(e164)), own, f"limit/{length}")
    json.dump({"phonenumbers": phonenumbers.__version__, "seed": SEED, "cases": cases}, sys.stdout)


if __name__ == "__main__":
    main()
