#!/bin/sh
# Regenerates coap-fields.tsv, the reference decoding of the shared captures
# by tshark (Wireshark's CoAP dissector), which TestTsharkReference compares
# Message.Decode against. Needs tshark; the tests themselves do not.
#
#   sh decode/testdata/tshark/gen.sh [CAPTURES_DIR]
#
# Columns: capture path (relative to CAPTURES_DIR), frame, type, code,
# message ID, token (hex), option numbers (comma-separated), payload
# length (of this message, not of a reassembled block-wise body), OSCORE
# Partial IV, kid, kid context (hex).
set -eu
dir=${1:-$(dirname "$0")/../../../../shared/captures}
out=$(dirname "$0")/coap-fields.tsv
cd "$dir"
find . -name '*.pcap' -o -name '*.pcapng' | grep -v microschc | sort | while read -r f; do
	tshark -r "$f" -Y 'coap && !icmp && !_ws.malformed' -T fields -E separator='|' \
		-e frame.number -e coap.type -e coap.code -e coap.mid -e coap.token \
		-e coap.opt.desc -e coap.payload_length -e coap.block_length \
		-e coap.opt.object_security_piv -e coap.opt.object_security_kid \
		-e coap.opt.object_security_kid_context 2>/dev/null |
	awk -F'|' -v f="${f#./}" 'BEGIN { OFS = "\t" } {
		opts = ""; s = $6
		while (match(s, /Type [0-9]+/)) {
			opts = opts (opts == "" ? "" : ",") substr(s, RSTART + 5, RLENGTH - 5)
			s = substr(s, RSTART + RLENGTH)
		}
		for (i = 5; i <= 11; i++) { gsub(/:/, "", $i); sub(/<MISSING>/, "", $i) }
		# block_length is this block alone, payload_length the reassembled body.
		plen = $8 != "" ? $8 : $7 != "" ? $7 : 0
		print f, $1, $2, $3, $4, $5, opts, plen, $9, $10, $11
	}'
done >"$OLDPWD/$out"
