package heapq_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/alexarules/alexarules/engine/heapq"
)

type elem struct {
	v, seq int
	index  int
}

func newHeap() heapq.Heap[*elem] {
	return heapq.New(
		func(a, b *elem) bool { return a.v < b.v || a.v == b.v && a.seq < b.seq },
		func(x *elem, i int) { x.index = i })
}

// drain pops everything and checks the order and that each popped element
// was told it left.
func drain(t *testing.T, h *heapq.Heap[*elem]) []int {
	t.Helper()
	var out []int
	for h.Len() > 0 {
		least, _ := h.Peek()
		x := h.Pop()
		if x != least || x.index != -1 {
			t.Fatalf("Pop = %+v, Peek said %+v", x, least)
		}
		out = append(out, x.v)
	}
	return out
}

func TestOrderAndTies(t *testing.T) {
	h := newHeap()
	if _, ok := h.Peek(); ok {
		t.Fatal("Peek of an empty heap reported an element")
	}
	var want []*elem
	for i, v := range []int{5, 3, 5, 1, 3, 9, 1} {
		e := &elem{v: v, seq: i}
		want = append(want, e)
		h.Push(e)
	}
	slices.SortStableFunc(want, func(a, b *elem) int { return a.v - b.v })
	for _, w := range want {
		if got := h.Pop(); got != w {
			t.Fatalf("Pop = %+v, want %+v (ties in insertion order)", got, w)
		}
	}
}

// TestRandomAgainstSort pushes, removes and changes elements at random and
// compares the heap with a sorted copy of what it should hold.
func TestRandomAgainstSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := newHeap()
	live := map[*elem]bool{}
	for i := range 5000 {
		switch op := rng.IntN(4); {
		case op <= 1 || len(live) == 0:
			e := &elem{v: rng.IntN(100), seq: i}
			h.Push(e)
			live[e] = true
		case op == 2:
			for e := range live {
				if got := h.Remove(e.index); got != e || e.index != -1 {
					t.Fatalf("Remove(%d) = %+v, want %+v", e.index, got, e)
				}
				delete(live, e)
				break
			}
		default:
			for e := range live {
				e.v = rng.IntN(100)
				h.Fix(e.index)
				break
			}
		}
		if h.Len() != len(live) {
			t.Fatalf("Len = %d, want %d", h.Len(), len(live))
		}
	}
	var want []int
	for e := range live {
		want = append(want, e.v)
	}
	slices.Sort(want)
	if got := drain(t, &h); !slices.Equal(got, want) {
		t.Fatalf("drained %v, want %v", got, want)
	}
}

func TestReset(t *testing.T) {
	h := newHeap()
	h.Push(&elem{v: 100})
	xs := []*elem{{v: 4}, {v: 2}, {v: 8}, {v: 6}}
	h.Reset(xs)
	for _, x := range xs {
		if x.index < 0 || x.index >= len(xs) {
			t.Fatalf("element %+v has no index after Reset", x)
		}
	}
	if got := drain(t, &h); !slices.Equal(got, []int{2, 4, 6, 8}) {
		t.Fatalf("after Reset drained %v", got)
	}
}

func TestNilMoved(t *testing.T) {
	h := heapq.New(func(a, b int) bool { return a < b }, nil)
	for _, v := range []int{3, 1, 2} {
		h.Push(v)
	}
	last, _ := h.Peek()
	removed := h.Remove(h.Len() - 1) // a leaf: [1 3 2] holds 2 there
	h.Fix(0)
	if a, b := h.Pop(), h.Pop(); last != 1 || removed != 2 || a != 1 || b != 3 || h.Len() != 0 {
		t.Fatalf("least %d, removed %d, popped %d then %d, %d left", last, removed, a, b, h.Len())
	}
}
