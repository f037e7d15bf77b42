package stats

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

type reference struct {
	UTest struct {
		X, Y      []float64
		TwoSidedP float64 `json:"two_sided_p"`
	} `json:"utest"`
	BH struct{ P, Q []float64 } `json:"bh"`
}

func loadReference(t *testing.T) reference {
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestUTestReference(t *testing.T) {
	r := loadReference(t)
	if p := UTest(r.UTest.X, r.UTest.Y); math.Abs(p-r.UTest.TwoSidedP) > 0.0005 {
		t.Errorf("p = %.4f, R says %.4f", p, r.UTest.TwoSidedP)
	}
	// Complete separation of 6 and 6: the exact two-sided p is 2/C(12,6) = 2/924.
	a := []float64{1, 2, 3, 4, 5, 6}
	b := []float64{7, 8, 9, 10, 11, 12}
	if p := UTest(a, b); math.Abs(p-2.0/924) > 1e-9 {
		t.Errorf("separated: %v", p)
	}
	if p := UTestGreater(a, b); math.Abs(p-1.0/924) > 1e-9 || UTestLess(a, b) < 0.99 {
		t.Errorf("one-sided: %v %v", p, UTestLess(a, b))
	}
	// R: wilcox.test(x, y, alternative = "greater") gives 0.1272; here b = x is the larger.
	if p := UTestGreater(r.UTest.Y, r.UTest.X); math.Abs(p-r.UTest.TwoSidedP/2) > 0.0005 {
		t.Errorf("one-sided reference: %v", p)
	}
	if MinP(6, 6) != 2.0/924 || MinP(3, 3) != 0.1 || MinP(4, 4) >= 0.05 {
		t.Errorf("MinP: %v %v %v", MinP(6, 6), MinP(3, 3), MinP(4, 4))
	}
	if UTest([]float64{1, 1}, []float64{1, 1}) != 1 || UTest(nil, a) != 1 {
		t.Error("degenerate samples give p = 1")
	}
}

func TestUNullCDF(t *testing.T) {
	// m = n = 2: U is 0,1,2,2,3,4 over the 6 arrangements.
	cdf := uNullCDF(2, 2)
	want := []float64{1.0 / 6, 2.0 / 6, 4.0 / 6, 5.0 / 6, 1}
	for i := range want {
		if math.Abs(cdf[i]-want[i]) > 1e-12 {
			t.Fatalf("cdf %v, want %v", cdf, want)
		}
	}
}

func TestHodgesLehmann(t *testing.T) {
	// Pairwise log ratios of {1,2} against {2,4,8}: ln of 2,4,8,1,2,4 → median ln(3)?
	// sorted ratios 1,2,2,4,4,8: median between 2 and 4 → exp(mean of ln2, ln4) = 2√2.
	est, _, _, ok := HodgesLehmann([]float64{1, 2}, []float64{2, 4, 8}, 0.95)
	if math.Abs(est-2*math.Sqrt2) > 1e-12 || ok {
		t.Errorf("est %v ok %v (2 vs 3 values cannot give a 95%% interval)", est, ok)
	}
	// 6 vs 6 with a clean 10 % shift: the estimate is 1.1 and the interval holds it.
	a := []float64{100, 101, 99, 100.5, 99.5, 100.2}
	b := make([]float64, len(a))
	for i, v := range a {
		b[i] = v * 1.1
	}
	est, lo, hi, ok := HodgesLehmann(a, b, 0.95)
	if !ok || math.Abs(est-1.1) > 1e-9 || lo > 1.1 || hi < 1.1 || lo < 1.05 || hi > 1.15 {
		t.Errorf("est %v [%v, %v] ok %v", est, lo, hi, ok)
	}
	// k for 6 and 6 at 95 %: P(U ≤ 5) ≤ 0.025 < P(U ≤ 6), so k = 6 (R: qwilcox(0.025, 6, 6) = 6).
	cdf := uNullCDF(6, 6)
	if !(cdf[5] <= 0.025 && cdf[6] > 0.025) {
		t.Errorf("critical values: %v %v", cdf[5], cdf[6])
	}
}

func TestBootstrapRatio(t *testing.T) {
	a := []float64{100, 101, 99, 100.5, 99.5, 100.2}
	b := []float64{110, 111.1, 108.9, 110.55, 109.45, 110.22}
	lo, hi := BootstrapRatio(a, b, 0.95, 2000, 1)
	if lo > 1.1 || hi < 1.1 || lo < 1.08 || hi > 1.12 {
		t.Errorf("[%v, %v]", lo, hi)
	}
	lo2, hi2 := BootstrapRatio(a, b, 0.95, 2000, 1)
	if lo != lo2 || hi != hi2 {
		t.Error("the same seed must give the same interval")
	}
}

func TestBenjaminiHochbergReference(t *testing.T) {
	r := loadReference(t)
	q := BenjaminiHochberg(r.BH.P)
	for i := range q {
		if math.Abs(q[i]-r.BH.Q[i]) > 1e-12 {
			t.Errorf("q = %v, R says %v", q, r.BH.Q)
			break
		}
	}
}

func TestMedianCI(t *testing.T) {
	// n = 6: [x(1), x(6)] covers 96.9 %, [x(2), x(5)] only 78 %.
	if lo, hi := MedianCI([]float64{5, 1, 4, 2, 6, 3}, 0.95); lo != 1 || hi != 6 {
		t.Errorf("n=6: [%v, %v]", lo, hi)
	}
	// n = 20: k = 6 (coverage 95.9 %), so [x(6), x(15)].
	xs := make([]float64, 20)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	if lo, hi := MedianCI(xs, 0.95); lo != 6 || hi != 15 {
		t.Errorf("n=20: [%v, %v]", lo, hi)
	}
}
