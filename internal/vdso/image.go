package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Symbols patched, by their LINUX_2.6 names.
const (
	symClockGettime = "__vdso_clock_gettime"
	symGettimeofday = "__vdso_gettimeofday"
	symTime         = "__vdso_time"
)

// maxOffset bounds an offset so that time's 32-bit seconds immediate holds
// it: about 68 years either way.
const maxOffset = time.Duration(1<<31-1) * time.Second

// layout is where the patch goes in one vDSO image. It depends only on the
// image, which the kernel shares between every 64-bit process.
type layout struct {
	clockGettime symbol
	gettimeofday symbol // size 0 when absent
	time         symbol
	// slack is the offset of the trampoline, in the zeros after the ELF
	// file's last byte, or -1 when clock_gettime is replaced in place.
	slack int
	// displaced is the length of clock_gettime's prologue moved into the
	// trampoline.
	displaced int
}

type symbol struct{ off, size int }

// parse finds the time functions and a place for the trampoline in img,
// the vDSO's bytes as mapped (the image is mapped from file offset 0, so
// virtual addresses are offsets).
func parse(img []byte) (layout, error) {
	var l layout
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return l, fmt.Errorf("vdso: not an ELF image: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return l, fmt.Errorf("vdso: a %v %v image; only 64-bit x86-64 is supported", f.Class, f.Machine)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return l, fmt.Errorf("vdso: symbols: %w", err)
	}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		sym := symbol{int(s.Value), int(s.Size)}
		if sym.off < 0 || sym.off+sym.size > len(img) {
			return l, fmt.Errorf("vdso: %s lies outside the image", s.Name)
		}
		switch s.Name {
		case symClockGettime:
			l.clockGettime = sym
		case symGettimeofday:
			l.gettimeofday = sym
		case symTime:
			l.time = sym
		}
	}
	if l.clockGettime.size == 0 {
		return l, errors.New("vdso: no " + symClockGettime)
	}
	// The file's extent: segments, sections and the section header table.
	end := 0
	for _, p := range f.Progs {
		end = max(end, int(p.Off+p.Filesz))
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			end = max(end, int(s.Offset+s.Size))
		}
	}
	if len(img) >= 64 {
		shoff := int(binary.LittleEndian.Uint64(img[0x28:]))
		shentsize := int(binary.LittleEndian.Uint16(img[0x3a:]))
		shnum := int(binary.LittleEndian.Uint16(img[0x3c:]))
		end = max(end, shoff+shentsize*shnum)
	}
	l.slack = -1
	start := (end + 63) &^ 63
	if n := prologueLen(img[l.clockGettime.off:l.clockGettime.off+l.clockGettime.size], 5); n > 0 &&
		start+trampolineRoom <= len(img) && allZero(img[end:]) {
		l.slack, l.displaced = start, n
	}
	return l, nil
}

// trampolineRoom is the most the trampoline may take (it takes about 100).
const trampolineRoom = 192

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// split turns an offset into whole seconds (rounded down) and a
// non-negative remainder of nanoseconds.
func split(offset time.Duration) (secs, nsec int64) {
	secs, nsec = int64(offset/time.Second), int64(offset%time.Second)
	if nsec < 0 {
		secs, nsec = secs-1, nsec+1e9
	}
	return secs, nsec
}

// patched is ref with the offset applied: a copy, ref is not changed. At
// offset zero it is still patched (the code is in, adding nothing), so that
// strobing between an offset and zero only rewrites immediates.
func (l layout) patched(ref []byte, offset time.Duration) ([]byte, error) {
	if offset > maxOffset || offset < -maxOffset {
		return nil, fmt.Errorf("vdso: offset %v beyond ±%v", offset, maxOffset)
	}
	img := bytes.Clone(ref)
	secs, nsec := split(offset)
	put := func(name string, at symbol, r routine, err error) error {
		if err != nil {
			return err
		}
		if len(r.code) > at.size {
			return fmt.Errorf("vdso: %s routine is %d bytes, the function only %d", name, len(r.code), at.size)
		}
		copy(img[at.off:], r.code)
		return nil
	}
	cg := l.clockGettime
	if l.slack >= 0 {
		r, err := clockGettimeTrampoline(l.slack, cg.off, ref[cg.off:cg.off+l.displaced], secs, nsec)
		if err := put(symClockGettime, symbol{l.slack, trampolineRoom}, r, err); err != nil {
			return nil, err
		}
		// The entry becomes jmp slack, the rest of the displaced bytes int3.
		a := newAsm(cg.off)
		a.jmpImage(l.slack)
		for len(a.b) < l.displaced {
			a.emit(0xcc)
		}
		copy(img[cg.off:], a.b)
	} else {
		r, err := clockGettimeSyscall(secs, nsec)
		if err := put(symClockGettime, cg, r, err); err != nil {
			return nil, err
		}
	}
	if l.gettimeofday.size > 0 {
		r, err := gettimeofdaySyscall(secs, nsec/1000)
		if err := put(symGettimeofday, l.gettimeofday, r, err); err != nil {
			return nil, err
		}
	}
	if l.time.size > 0 {
		r, err := timeSyscall(int32(secs))
		if err := put(symTime, l.time, r, err); err != nil {
			return nil, err
		}
	}
	return img, nil
}

// offsetOf reads the offset a patched image carries, from clock_gettime's
// immediates.
func (l layout) offsetOf(ref, img []byte) (time.Duration, error) {
	// Generate the routine at a known offset and read the immediates from
	// the same positions in img.
	var r routine
	var err error
	at := l.clockGettime.off
	if l.slack >= 0 {
		at = l.slack
		r, err = clockGettimeTrampoline(l.slack, l.clockGettime.off, ref[l.clockGettime.off:l.clockGettime.off+l.displaced], 0, 0)
	} else {
		r, err = clockGettimeSyscall(0, 0)
	}
	if err != nil {
		return 0, err
	}
	secs := int64(binary.LittleEndian.Uint64(img[at+r.secsAt:]))
	nsec := int64(binary.LittleEndian.Uint64(img[at+r.fracAt:]))
	return time.Duration(secs)*time.Second + time.Duration(nsec), nil
}

// state classifies a process's vDSO image against the kernel's (ref): not
// patched, patched by the lab with some offset, or something else, which
// the lab refuses to touch.
func (l layout) state(ref, img []byte) (patched bool, offset time.Duration, err error) {
	if len(img) != len(ref) {
		return false, 0, fmt.Errorf("vdso: image of %d bytes, the kernel's is %d: a different vDSO (32-bit process?)", len(img), len(ref))
	}
	if bytes.Equal(img, ref) {
		return false, 0, nil
	}
	off, err := l.offsetOf(ref, img)
	if err == nil {
		var want []byte
		if want, err = l.patched(ref, off); err == nil && bytes.Equal(img, want) {
			return true, off, nil
		}
	}
	return false, 0, errors.New("vdso: image is neither the kernel's nor patched by the lab (a debugger's breakpoint?); not touching it")
}
