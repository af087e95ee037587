package nn_test

import (
	"fmt"

	"github.com/autodropout/autodropout/autodropout"
	adnn "github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// A model of your own, outside this repository, gets dropout sites from a
// Sites registry: declare a site after each batch norm, apply it in the
// forward pass, and a pattern file maps onto it by name.
func ExampleSites() {
	var sites adnn.Sites // in your model's struct; Sites() returns &m.sites
	sites.Declare("bn1")
	sites.Declare("bn2")

	// What autodropout.ReadPatterns returns for a pattern file.
	ps := []autodropout.SitePattern{{Site: "bn2", Pattern: autodropout.Pattern{Size: 2, Stride: 1, Repeat: 2}}}
	n, err := sites.SetPatterns(ps)
	fmt.Println(n, err)

	h := ts.MustOnes([]int64{2, 4, 8, 8}, gotch.Float, gotch.CPU)
	defer h.MustDrop()
	fmt.Println("bn1 unassigned, the identity:", sites.Apply("bn1", h, true) == h)
	d := sites.Apply("bn2", h, true) // a new tensor; h stays ours
	defer d.MustDrop()
	fmt.Println("bn2 masked:", d.MustSize(), sites.Get("bn2"))

	_, err = sites.SetPatterns([]autodropout.SitePattern{{Site: "bn3", Pattern: ps[0].Pattern}})
	fmt.Println(err)
	// Output:
	// 1 <nil>
	// bn1 unassigned, the identity: true
	// bn2 masked: [2 4 8 8] pattern(size=2 stride=1 repeat=2 rotate=0 shear_x=0 shear_y=0 share_c=false residual=false scope=mask)
	// no dropout site "bn3" in this model (2 sites; e.g. bn1, bn2)
}
