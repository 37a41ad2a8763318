// Package hls writes the HLS master playlist for an abrfleet ABR ladder and
// works out what goes in it: RFC 6381 codec strings from encoder extradata,
// and peak and average bitrates measured from the media playlists and fMP4
// segments that FFmpeg's hls muxer writes for each rung.
package hls
