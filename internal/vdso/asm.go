package vdso

import (
	"encoding/binary"
	"fmt"
)

// asm is a tiny x86-64 assembler: bytes, labels, and 8- and 32-bit
// displacements fixed up once every label is known. base is where the code
// will sit in the vDSO image, so jumps to absolute image offsets can be
// encoded.
type asm struct {
	base   int
	b      []byte
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at    int // position of the displacement
	size  int // 1 or 4
	label string
}

func newAsm(base int) *asm { return &asm{base: base, labels: map[string]int{}} }

func (a *asm) emit(bs ...byte) { a.b = append(a.b, bs...) }

func (a *asm) label(name string) { a.labels[name] = len(a.b) }

// jcc8 emits a short conditional or unconditional jump (opcode op) to label.
func (a *asm) jcc8(op byte, label string) {
	a.emit(op, 0)
	a.fixups = append(a.fixups, fixup{at: len(a.b) - 1, size: 1, label: label})
}

// rel32 emits op (call e8 or jmp e9) to label.
func (a *asm) rel32(op byte, label string) {
	a.emit(op, 0, 0, 0, 0)
	a.fixups = append(a.fixups, fixup{at: len(a.b) - 4, size: 4, label: label})
}

// jmpImage emits a jmp rel32 to an absolute offset in the vDSO image.
func (a *asm) jmpImage(target int) {
	rel := target - (a.base + len(a.b) + 5)
	a.emit(0xe9)
	a.b = binary.LittleEndian.AppendUint32(a.b, uint32(int32(rel)))
}

// imm64 appends v and returns its position in the code.
func (a *asm) imm64(v int64) int {
	at := len(a.b)
	a.b = binary.LittleEndian.AppendUint64(a.b, uint64(v))
	return at
}

func (a *asm) imm32(v int32) int {
	at := len(a.b)
	a.b = binary.LittleEndian.AppendUint32(a.b, uint32(v))
	return at
}

// code resolves the fixups.
func (a *asm) code() ([]byte, error) {
	for _, f := range a.fixups {
		to, ok := a.labels[f.label]
		if !ok {
			return nil, fmt.Errorf("asm: no label %q", f.label)
		}
		rel := to - (f.at + f.size)
		switch f.size {
		case 1:
			if rel < -128 || rel > 127 {
				return nil, fmt.Errorf("asm: %q out of rel8 range (%d)", f.label, rel)
			}
			a.b[f.at] = byte(int8(rel))
		case 4:
			binary.LittleEndian.PutUint32(a.b[f.at:], uint32(int32(rel)))
		}
	}
	return a.b, nil
}

// Registers holding the pointer to the time structure.
const (
	regRSI = 6 // clock_gettime(clk, ts): ts in rsi
	regRDI = 7 // gettimeofday(tv, tz): tv in rdi
)

// addOffset emits code adding secs and frac (0 <= frac < unit) to the
// {seconds, fraction} pair at [ptr], normalising the fraction into
// [0, unit). It clobbers rcx and rdx, which the ABI lets a callee clobber.
// It returns the positions of the two immediates.
func (a *asm) addOffset(ptr byte, secs, frac int64, unit int32) (secsAt, fracAt int) {
	modrm := func(mod, reg, rm byte) byte { return mod<<6 | reg<<3 | rm }
	const rcx, rdx = 1, 2
	a.emit(0x48, 0xb9) // mov rcx, imm64
	secsAt = a.imm64(secs)
	a.emit(0x48, 0x01, modrm(0, rcx, ptr)) // add [ptr], rcx
	a.emit(0x48, 0xb9)                     // mov rcx, imm64
	fracAt = a.imm64(frac)
	a.emit(0x48, 0x03, modrm(1, rcx, ptr), 8) // add rcx, [ptr+8]
	a.emit(0xba)                              // mov edx, imm32
	a.imm32(unit)
	a.emit(0x48, 0x39, modrm(3, rdx, rcx)) // cmp rcx, rdx
	a.jcc8(0x7c, "store")                  // jl store
	a.emit(0x48, 0x29, modrm(3, rdx, rcx)) // sub rcx, rdx
	a.emit(0x48, 0xff, modrm(0, 0, ptr))   // inc qword [ptr]
	a.label("store")
	a.emit(0x48, 0x89, modrm(1, rcx, ptr), 8) // mov [ptr+8], rcx
	return secsAt, fracAt
}

// Clock ids that read the wall clock: CLOCK_REALTIME, CLOCK_REALTIME_COARSE
// and CLOCK_TAI (a fixed number of seconds from CLOCK_REALTIME).
var wallClocks = []byte{0, 5, 11}

// cmpWall emits: if edi is a wall clock id, jump to label yes; else fall
// through.
func (a *asm) cmpWall(yes string) {
	for _, id := range wallClocks {
		a.emit(0x83, 0xff, id) // cmp edi, id
		a.jcc8(0x74, yes)      // je yes
	}
}

// Syscall numbers on x86-64.
const (
	sysGettimeofday = 96
	sysTime         = 201
	sysClockGettime = 228
)

// routine is generated code and where its offset immediates sit.
type routine struct {
	code           []byte
	secsAt, fracAt int // -1 when absent
}

// clockGettimeTrampoline is the clock_gettime wrapper placed in the vDSO's
// slack at base: wall clocks call the original function (its displaced
// prologue, then a jump back to entry+len(displaced)) and add the offset;
// every other clock goes straight to the original code, fast path intact.
func clockGettimeTrampoline(base, entry int, displaced []byte, secs, nsec int64) (routine, error) {
	a := newAsm(base)
	a.cmpWall("wall")
	a.label("orig")
	a.emit(displaced...)
	a.jmpImage(entry + len(displaced))
	a.label("wall")
	a.emit(0x56)          // push rsi
	a.rel32(0xe8, "orig") // call orig
	a.emit(0x5e)          // pop rsi
	a.emit(0x85, 0xc0)    // test eax, eax
	a.jcc8(0x75, "done")  // jnz done: an error, leave ts alone
	s, f := a.addOffset(regRSI, secs, nsec, 1e9)
	a.label("done")
	a.emit(0xc3) // ret
	code, err := a.code()
	return routine{code, s, f}, err
}

// clockGettimeSyscall replaces clock_gettime in place when no trampoline
// can be placed: every clock becomes a system call (correct, but slower).
func clockGettimeSyscall(secs, nsec int64) (routine, error) {
	a := newAsm(0)
	a.emit(0xb8)
	a.imm32(sysClockGettime) // mov eax, SYS_clock_gettime
	a.emit(0x0f, 0x05)       // syscall
	a.emit(0x48, 0x85, 0xc0) // test rax, rax
	a.jcc8(0x75, "done")     // jnz done
	a.cmpWall("wall")
	a.jcc8(0xeb, "done") // jmp done
	a.label("wall")
	s, f := a.addOffset(regRSI, secs, nsec, 1e9)
	a.label("done")
	a.emit(0xc3)
	code, err := a.code()
	return routine{code, s, f}, err
}

// gettimeofdaySyscall replaces gettimeofday in place.
func gettimeofdaySyscall(secs, usec int64) (routine, error) {
	a := newAsm(0)
	a.emit(0xb8)
	a.imm32(sysGettimeofday)
	a.emit(0x0f, 0x05)       // syscall
	a.emit(0x48, 0x85, 0xc0) // test rax, rax
	a.jcc8(0x75, "done")
	a.emit(0x48, 0x85, 0xff) // test rdi, rdi
	a.jcc8(0x74, "done")     // jz done: no tv
	s, f := a.addOffset(regRDI, secs, usec, 1e6)
	a.label("done")
	a.emit(0xc3)
	code, err := a.code()
	return routine{code, s, f}, err
}

// timeSyscall replaces time in place. It adds whole seconds only.
func timeSyscall(secs int32) (routine, error) {
	a := newAsm(0)
	a.emit(0x57)       // push rdi
	a.emit(0x31, 0xff) // xor edi, edi
	a.emit(0xb8)
	a.imm32(sysTime)   // mov eax, SYS_time
	a.emit(0x0f, 0x05) // syscall
	a.emit(0x5f)       // pop rdi
	a.emit(0x48, 0x05) // add rax, imm32
	s := a.imm32(secs)
	a.emit(0x48, 0x85, 0xff) // test rdi, rdi
	a.jcc8(0x74, "done")
	a.emit(0x48, 0x89, 0x07) // mov [rdi], rax
	a.label("done")
	a.emit(0xc3)
	code, err := a.code()
	return routine{code, s, -1}, err
}

// prologueLen decodes the start of a function as far as it holds only
// position-independent instructions the lab knows (endbr64, push, mov
// rbp,rsp), and returns the length of the first whole instructions
// covering at least n bytes, or 0 when it meets anything else.
func prologueLen(b []byte, n int) int {
	i := 0
	for i < n {
		switch {
		case hasPrefix(b[i:], 0xf3, 0x0f, 0x1e, 0xfa): // endbr64
			i += 4
		case len(b) > i && b[i] >= 0x50 && b[i] <= 0x57: // push r64
			i++
		case len(b) > i+1 && b[i] == 0x41 && b[i+1] >= 0x50 && b[i+1] <= 0x57: // push r8-r15
			i += 2
		case hasPrefix(b[i:], 0x48, 0x89, 0xe5): // mov rbp, rsp
			i += 3
		default:
			return 0
		}
	}
	return i
}

func hasPrefix(b []byte, p ...byte) bool {
	if len(b) < len(p) {
		return false
	}
	for i := range p {
		if b[i] != p[i] {
			return false
		}
	}
	return true
}
