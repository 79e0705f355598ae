// Package heapq is the one binary heap of the engine: a typed wrapper of
// container/heap for the Virtual clock, the timer queue and the poller's
// targets, which all need to find their earliest entry and to move or
// remove an entry in the middle.
package heapq

import "container/heap"

// Heap is a min-heap of T ordered by less. Its zero value is not usable;
// make one with New. A Heap must not be copied after first use.
type Heap[T any] struct{ h items[T] }

// New returns an empty heap ordered by less (a before b). moved, which may
// be nil, is told each element's new index as it moves, and -1 when it
// leaves the heap, so an element can keep its index for Fix and Remove.
func New[T any](less func(a, b T) bool, moved func(x T, i int)) Heap[T] {
	if moved == nil {
		moved = func(T, int) {}
	}
	return Heap[T]{items[T]{less: less, moved: moved}}
}

// Len is the number of elements.
func (h *Heap[T]) Len() int { return len(h.h.s) }

// Peek returns the least element; ok is false when the heap is empty.
func (h *Heap[T]) Peek() (x T, ok bool) {
	if len(h.h.s) == 0 {
		return x, false
	}
	return h.h.s[0], true
}

// Push adds x.
func (h *Heap[T]) Push(x T) { heap.Push(&h.h, x) }

// Pop removes and returns the least element. The heap must not be empty.
func (h *Heap[T]) Pop() T { return heap.Pop(&h.h).(T) }

// Remove removes and returns the element at index i.
func (h *Heap[T]) Remove(i int) T { return heap.Remove(&h.h, i).(T) }

// Fix restores the order after the element at index i changed.
func (h *Heap[T]) Fix(i int) { heap.Fix(&h.h, i) }

// Reset replaces the elements with xs (the heap keeps the slice) and
// orders them in O(n).
func (h *Heap[T]) Reset(xs []T) {
	h.h.s = xs
	for i, x := range xs {
		h.h.moved(x, i)
	}
	heap.Init(&h.h)
}

// items adapts a slice to container/heap.
type items[T any] struct {
	s     []T
	less  func(a, b T) bool
	moved func(x T, i int)
}

func (h *items[T]) Len() int           { return len(h.s) }
func (h *items[T]) Less(i, j int) bool { return h.less(h.s[i], h.s[j]) }

func (h *items[T]) Swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.moved(h.s[i], i)
	h.moved(h.s[j], j)
}

func (h *items[T]) Push(x any) {
	h.s = append(h.s, x.(T))
	h.moved(x.(T), len(h.s)-1)
}

func (h *items[T]) Pop() any {
	n := len(h.s) - 1
	x := h.s[n]
	var zero T
	h.s[n] = zero // let the element be collected
	h.s = h.s[:n]
	h.moved(x, -1)
	return x
}
