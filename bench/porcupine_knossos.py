"""The Knossos anchors for bench/porcupine.py: which files, and how Porcupine gets to check them.

Owns the Knossos case list (family, model, initial value, upstream verdict), the conversion of one history into
the op lines the Go side reads, and that Go side (Knossos's cas-register, multi-register and mutex models
written for Porcupine, plus the reader of the op lines). Does not time anything (bench/porcupine.py).

Porcupine reads no EDN, so both checkers get the same ops: the ops our linearizability checker would order
(`entries_of`: failed ops and reads of unknown outcome left out, as Knossos does), one line each:

    <call> <return, or -1 when the outcome is unknown> <op>

with <op> `r V` (read, V an int or `n` for nil: unconstrained under Knossos's cas-register), `w V`, `c OLD NEW`
(cas), `a` / `l` (acquire / release), `t N` then N triples `r|w KEY V` (a multi-register txn). The first line
is `init` and the initial value (`init 0`, `init x 0 y 0`, `init`). An op of unknown outcome returns at the
end of time in Porcupine, where it must still be placed; Knossos may leave it out. For the register models
placing it last is the same (a write or an unknown cas is always legal there and nothing follows it); for the
mutex an unknown op may or may not take effect, told to Porcupine as a nondeterministic model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checkers.linearizable import LinearizableChecker
from checkers.linearizable.model import UNKNOWN
from checkers.linearizable.search import entries_of
from harness.formats import load_history

# family folder -> (model, --opt init=..., initial value)
FAMILIES: dict[str, tuple[str, str | None, Any]] = {
    "cas-register": ("cas-register", "0", 0),
    "multi-register": ("multi-register", "{:x 0 :y 0}", {"x": 0, "y": 0}),
    "mutex": ("mutex", None, None),
}


def knossos_cases(knossos: Path) -> list[list[tuple[Path, str, str | None, bool]]]:
    """One group per family (one process per checker each): (path, model, init option, upstream verdict)."""
    groups = []
    for family, (model, init_opt, _init) in FAMILIES.items():
        files = sorted((knossos / family).glob("*/*.edn"))
        if files:
            groups.append([(p, model, init_opt, p.parent.name == "good") for p in files])
    return groups


def _v(x: Any) -> str:
    if x is None:
        return "n"
    if isinstance(x, bool) or not isinstance(x, int):
        raise ValueError(f"the Go side reads ints and nil only, not {x!r}")
    return str(x)


def _op_text(model: str, input: Any, output: Any) -> str:
    f = input[0]
    if model == "mutex":
        return "a" if f == "acquire" else "l"
    if model == "multi-register":
        return f"t {len(input)} " + " ".join(f"{mf[0]} {k} {_v(v)}" for mf, k, v in input)
    if f == "read":
        return f"r {_v(output)}"
    if f == "write":
        return f"w {_v(input[1])}"
    old, new = input[1]
    return f"c {_v(old)} {_v(new)}"


def write_knossos_input(path: Path, model: str, out: Path) -> None:
    """The ops of one Knossos history as the Go side reads them (module docstring)."""
    family = next(f for f, (m, _o, _i) in FAMILIES.items() if m == model)
    init = FAMILIES[family][2]
    m = LinearizableChecker(model=model, init=init).resolved_model()
    parts = entries_of(load_history(path, repair=True), m)
    lines = ["init " + (" ".join(f"{k} {_v(v)}" for k, v in init.items()) if isinstance(init, dict)
                        else "" if init is None else _v(init))]
    for entries in parts.values():
        for e in entries:
            ret = -1 if e.ret is None or e.output is UNKNOWN else e.ret
            lines.append(f"{e.call} {ret} {_op_text(model, e.input, e.output)}")
    out.write_text("\n".join(lines) + "\n")


KNOSSOS_GO = """package porcupine

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
)

const knNil = math.MinInt32

type knMop struct {
	write bool
	reg   int
	val   int
}

type knOp struct {
	kind    string
	unknown bool
	a, b    int
	mops    []knMop
}

type knRegs [8]int

func knInt(s string) int {
	if s == "n" {
		return knNil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		panic("bad int " + s)
	}
	return v
}

func knStepRegister(state, input, output interface{}) (bool, interface{}) {
	st := state.(int)
	op := input.(knOp)
	switch op.kind {
	case "r":
		return op.a == knNil || st == op.a, st
	case "w":
		return true, op.a
	default: // cas: known ones completed ok; unknown ones change the state only if the compare holds
		if st == op.a {
			return true, op.b
		}
		return op.unknown, st
	}
}

func knStepMulti(state, input, output interface{}) (bool, interface{}) {
	regs := state.(knRegs)
	for _, m := range input.(knOp).mops {
		if m.write {
			regs[m.reg] = m.val
		} else if m.val != knNil && regs[m.reg] != m.val {
			return false, state
		}
	}
	return true, regs
}

func knStepMutex(state, input, output interface{}) []interface{} {
	held := state.(bool)
	op := input.(knOp)
	var out []interface{}
	if op.kind == "a" && !held {
		out = append(out, true)
	} else if op.kind == "l" && held {
		out = append(out, false)
	}
	if op.unknown { // may not have happened at all
		out = append(out, held)
	}
	return out
}

// checkKnossos reads the op lines of bench/porcupine_knossos.py and checks them with Porcupine.
func checkKnossos(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	sc.Scan()
	header := strings.Fields(sc.Text())[1:]
	regIndex := map[string]int{}
	var initRegs knRegs
	for i := 0; i+1 < len(header); i += 2 {
		regIndex[header[i]] = len(regIndex)
		initRegs[regIndex[header[i]]] = knInt(header[i+1])
	}
	var ops []Operation
	model := ""
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		call, _ := strconv.ParseInt(w[0], 10, 64)
		ret, _ := strconv.ParseInt(w[1], 10, 64)
		op := knOp{kind: w[2], unknown: ret < 0}
		if ret < 0 {
			ret = math.MaxInt64 - int64(len(ops)) // unknown outcome: open until the end of time
		}
		switch w[2] {
		case "r", "w":
			op.a = knInt(w[3])
			model = "register"
		case "c":
			op.a, op.b = knInt(w[3]), knInt(w[4])
			model = "register"
		case "a", "l":
			model = "mutex"
		case "t":
			model = "multi"
			n, _ := strconv.Atoi(w[3])
			for i := 0; i < n; i++ {
				key := w[5+3*i]
				idx, ok := regIndex[key]
				if !ok {
					idx = len(regIndex)
					regIndex[key] = idx
					initRegs[idx] = knNil
				}
				op.mops = append(op.mops, knMop{write: w[4+3*i] == "w", reg: idx, val: knInt(w[6+3*i])})
			}
		}
		ops = append(ops, Operation{ClientId: len(ops), Input: op, Call: call, Output: nil, Return: ret})
	}
	switch model {
	case "mutex":
		nd := NondeterministicModel{
			Init: func() []interface{} { return []interface{}{false} },
			Step: knStepMutex,
		}
		return CheckOperations(nd.ToModel(), ops)
	case "multi":
		return CheckOperations(Model{Init: func() interface{} { return initRegs }, Step: knStepMulti}, ops)
	default:
		init := knNil
		if len(header) == 1 {
			init = knInt(header[0])
		}
		return CheckOperations(Model{Init: func() interface{} { return init }, Step: knStepRegister}, ops)
	}
}
"""
