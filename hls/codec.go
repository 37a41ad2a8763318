package hls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// CodecString returns the RFC 6381 codec string for an encoded stream.
// codec is FFmpeg's codec name: "h264", "hevc" or "aac"; extradata is the
// encoder's global header.
//
// For H.264, extradata is Annex B or an avcC record, and the result is
// "avc1.PPCCLL": profile_idc, the constraint flags byte and level_idc of the
// first SPS, in lowercase hex (e.g. "avc1.64001f").
//
// For HEVC, extradata is Annex B or an hvcC record, and the result follows
// ISO/IEC 14496-15 Annex E (e.g. "hvc1.1.6.L120.90"), from the general
// profile_tier_level of the first VPS or, when there is none, the first SPS.
// Hex digits are uppercase and unpadded; trailing zero constraint bytes are
// dropped.
//
// For AAC, extradata is an AudioSpecificConfig and the result is
// "mp4a.40.<audio object type>" (e.g. "mp4a.40.2" for AAC-LC).
func CodecString(codec string, extradata []byte) (string, error) {
	var parse func([]byte) (string, error)
	switch codec {
	case "h264":
		parse = avcCodecString
	case "hevc":
		parse = hevcCodecString
	case "aac":
		parse = aacCodecString
	default:
		return "", fmt.Errorf("hls: codec string: unsupported codec %q", codec)
	}
	if len(extradata) == 0 {
		return "", fmt.Errorf("hls: %s codec string: empty extradata", codec)
	}
	s, err := parse(extradata)
	if err != nil {
		return "", fmt.Errorf("hls: %s codec string: %w", codec, err)
	}
	return s, nil
}

// avcCodecString reads the first SPS of Annex B or avcC extradata.
func avcCodecString(b []byte) (string, error) {
	var sps []byte
	switch b[0] {
	case 0:
		nals, err := annexB(b)
		if err != nil {
			return "", err
		}
		for _, n := range nals {
			if n[0]&0x1f == 7 {
				sps = n
				break
			}
		}
	case 1:
		// avcC: version, profile, compat, level, lengthSizeMinusOne,
		// numOfSequenceParameterSets, then 16-bit length-prefixed SPSs.
		if len(b) < 8 || b[5]&0x1f == 0 {
			return "", errors.New("avcC truncated or without SPS")
		}
		n := int(binary.BigEndian.Uint16(b[6:8]))
		if len(b) < 8+n {
			return "", errors.New("avcC truncated")
		}
		if sps = b[8 : 8+n]; len(sps) == 0 || sps[0]&0x1f != 7 {
			return "", errors.New("avcC holds a malformed SPS")
		}
	default:
		return "", fmt.Errorf("unrecognized extradata format (first byte %#02x)", b[0])
	}
	if sps == nil {
		return "", errors.New("no SPS NAL unit")
	}
	p := unescape(sps)
	if len(p) < 4 {
		return "", errors.New("SPS truncated")
	}
	if p[1] == 0 || p[3] == 0 {
		return "", fmt.Errorf("SPS has invalid profile_idc %d or level_idc %d", p[1], p[3])
	}
	return fmt.Sprintf("avc1.%02x%02x%02x", p[1], p[2], p[3]), nil
}

// hevcCodecString reads the general profile_tier_level of Annex B or hvcC
// extradata.
func hevcCodecString(b []byte) (string, error) {
	const ptlSize = 12 // profile byte, 4 compatibility, 6 constraint, level
	var ptl []byte
	switch b[0] {
	case 0:
		nals, err := annexB(b)
		if err != nil {
			return "", err
		}
		var vps, sps []byte
		for _, n := range nals {
			switch t := n[0] >> 1 & 0x3f; {
			case t == 32 && vps == nil:
				vps = n
			case t == 33 && sps == nil:
				sps = n
			}
		}
		// The PTL follows the 2-byte NAL header and 4 bytes of VPS fields,
		// or 1 byte of SPS fields.
		switch {
		case vps != nil:
			ptl = skip(unescape(vps), 6)
		case sps != nil:
			ptl = skip(unescape(sps), 3)
		default:
			return "", errors.New("no VPS or SPS NAL unit")
		}
	case 1:
		// hvcC: version, then the general PTL fields, in a 23-byte header.
		if len(b) < 23 {
			return "", errors.New("hvcC truncated")
		}
		ptl = b[1:]
	default:
		return "", fmt.Errorf("unrecognized extradata format (first byte %#02x)", b[0])
	}
	if len(ptl) < ptlSize {
		return "", errors.New("profile_tier_level truncated")
	}
	space, tier, profile := ptl[0]>>6, ptl[0]>>5&1, ptl[0]&0x1f
	compat := bits.Reverse32(binary.BigEndian.Uint32(ptl[1:5]))
	level := ptl[11]
	if level == 0 {
		return "", errors.New("profile_tier_level has level_idc 0")
	}
	var s strings.Builder
	s.WriteString("hvc1.")
	if space > 0 {
		s.WriteByte("ABC"[space-1])
	}
	fmt.Fprintf(&s, "%d.%X.%c%d", profile, compat, "LH"[tier], level)
	for _, c := range bytes.TrimRight(ptl[5:11], "\x00") {
		fmt.Fprintf(&s, ".%X", c)
	}
	return s.String(), nil
}

// aacCodecString reads the audio object type of an AudioSpecificConfig.
func aacCodecString(b []byte) (string, error) {
	if len(b) < 2 {
		return "", errors.New("AudioSpecificConfig truncated")
	}
	aot := int(b[0] >> 3)
	if aot == 31 { // escape: 32 + the next 6 bits
		aot = 32 + (int(b[0]&7)<<3 | int(b[1]>>5))
	}
	if aot == 0 {
		return "", errors.New("AudioSpecificConfig has audio object type 0")
	}
	return fmt.Sprintf("mp4a.40.%d", aot), nil
}

// annexB splits an Annex B byte stream into its non-empty NAL units.
func annexB(b []byte) ([][]byte, error) {
	parts := bytes.Split(b, []byte{0, 0, 1})
	if len(parts) < 2 || len(bytes.Trim(parts[0], "\x00")) > 0 {
		return nil, errors.New("Annex B stream does not begin with a start code")
	}
	var nals [][]byte
	for _, p := range parts[1:] {
		// Zeros before a start code belong to it (zero_byte, trailing_zero_8bits).
		if p = bytes.TrimRight(p, "\x00"); len(p) > 0 {
			nals = append(nals, p)
		}
	}
	return nals, nil
}

// unescape removes emulation-prevention bytes: 00 00 03 becomes 00 00.
func unescape(nal []byte) []byte {
	out := make([]byte, 0, len(nal))
	zeros := 0
	for _, c := range nal {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// skip returns b without its first n bytes, or nil if it is shorter.
func skip(b []byte, n int) []byte {
	if len(b) < n {
		return nil
	}
	return b[n:]
}
