//go:build noturbojpeg

package data

import "errors"

// turboAvailable is false in a build with the tag noturbojpeg: JPEGs then
// decode with Go's image/jpeg, about half as fast, at full size.
const turboAvailable = false

type turboDecoder struct{}

type jpegColor int

const (
	jpegRGBLike jpegColor = iota
	jpegCMYK
)

func newTurboDecoder() (*turboDecoder, error) { return nil, errors.New("built without libjpeg-turbo") }

func (d *turboDecoder) close() {}

func (d *turboDecoder) header(buf []byte) (w, h int, cs jpegColor, err error) {
	return 0, 0, 0, errors.New("built without libjpeg-turbo")
}

func (d *turboDecoder) decode(buf []byte, w, h, num int, dst []byte) error {
	return errors.New("built without libjpeg-turbo")
}

func scaledSize(n, num int) int { return (n*num + 7) / 8 }
