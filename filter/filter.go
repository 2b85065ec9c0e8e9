// Package filter is coapaudit's display filter, like tshark's -Y: a
// boolean expression (github.com/expr-lang/expr) over the fields of the
// records written (packets, exchanges, findings, leaks), by their JSON
// names as docs/records.md lists them:
//
//	uri contains "/sensors" && code == "2.05"
//	severity >= "medium"
//	proxy == "10.0.0.2:5683" || type == "finding"
//
// A record without a field the expression uses does not match (as in
// tshark). severity compares by rank: info < low < medium < high.
// Expressions are compiled once; errors name the column.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Fields are the names an expression may use: every top-level field of
// the packet, exchange, finding and leak records (docs/schema).
var Fields = []string{
	"ambiguous", "anomalies", "baseline", "block", "certainty", "ci", "client", "code", "code_name", "conn_client", "conn_server", "diff", "dst", "dtls",
	"end", "error", "evicted", "exchange", "extra", "file", "fragments", "frame", "frame_files", "frame_len", "frames",
	"frames_omitted", "heuristic", "id", "info", "inner", "label", "legs", "links", "links_omitted", "malformed",
	"malformed_offset", "message", "method", "metric", "mid", "more_coap", "msgtype", "n", "notifications",
	"observable", "observe", "open", "options", "oscore", "payload_len", "protected", "proto",
	"proxies", "proxy", "publication", "residence", "role", "role_evidence", "rtt", "rule", "scope", "seed", "server", "severity", "src",
	"start", "status", "tcp_len", "threat", "time", "token", "truncated", "type", "udp_len", "unit", "uri",
	"uri_path", "value", "view",
}

// Severity is a finding's severity in an expression: it compares with
// strings and other severities by rank.
type Severity string

var ranks = map[string]int{"info": 1, "low": 2, "medium": 3, "high": 4}

func rank(v any) (int, error) {
	var s string
	switch v := v.(type) {
	case Severity:
		s = string(v)
	case string:
		s = v
	default:
		return 0, fmt.Errorf("%v is not a severity", v)
	}
	r, ok := ranks[strings.ToLower(s)]
	if !ok {
		return 0, fmt.Errorf("%q is not a severity (info, low, medium or high)", s)
	}
	return r, nil
}

// Filter is a compiled expression.
type Filter struct {
	src   string
	prog  *vm.Program
	names []string
}

// compare returns the function behind one comparison operator on
// severities.
func compare(name string, ok func(a, b int) bool) expr.Option {
	return expr.Function(name, func(p ...any) (any, error) {
		a, err := rank(p[0])
		if err != nil {
			return false, err
		}
		b, err := rank(p[1])
		if err != nil {
			return false, err
		}
		return ok(a, b), nil
	}, new(func(Severity, string) bool), new(func(string, Severity) bool), new(func(Severity, Severity) bool))
}

// Compile compiles an expression. Its error says at which column (from 1)
// the expression goes wrong.
func Compile(src string) (*Filter, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty filter")
	}
	names, err := checkNames(src)
	if err != nil {
		return nil, err
	}
	// Fields are typed at run time (a record has them or not); severity is
	// typed for its comparison operators.
	prog, err := expr.Compile(src,
		expr.Env(map[string]any{"severity": Severity(""), "type": ""}),
		expr.AllowUndefinedVariables(),
		expr.AsBool(),
		compare("_sevLT", func(a, b int) bool { return a < b }),
		compare("_sevLE", func(a, b int) bool { return a <= b }),
		compare("_sevGT", func(a, b int) bool { return a > b }),
		compare("_sevGE", func(a, b int) bool { return a >= b }),
		compare("_sevEQ", func(a, b int) bool { return a == b }),
		compare("_sevNE", func(a, b int) bool { return a != b }),
		expr.Operator("<", "_sevLT"),
		expr.Operator("<=", "_sevLE"),
		expr.Operator(">", "_sevGT"),
		expr.Operator(">=", "_sevGE"),
		expr.Operator("==", "_sevEQ"),
		expr.Operator("!=", "_sevNE"),
	)
	if err != nil {
		return nil, columnError(err)
	}
	return &Filter{src: src, prog: prog, names: names}, nil
}

// columnError rewords an expr error as "column N: message".
func columnError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Errorf("column %d: %s", fe.Column+1, fe.Message)
	}
	return err
}

var known = func() map[string]bool {
	m := make(map[string]bool, len(Fields))
	for _, f := range Fields {
		m[f] = true
	}
	return m
}()

// nameChecker finds the first identifier that is no record field (nor a
// function called, nor a variable the expression declares).
type nameChecker struct {
	callees  map[ast.Node]bool
	declared map[string]bool
	bad      *ast.IdentifierNode
	names    []string // the record fields used
}

func (c *nameChecker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		c.callees[n.Callee] = true
	case *ast.VariableDeclaratorNode:
		c.declared[n.Name] = true
	case *ast.IdentifierNode:
		switch {
		case c.callees[n] || c.declared[n.Value]:
		case !known[n.Value]:
			if c.bad == nil || n.Location().From < c.bad.Location().From {
				c.bad = n
			}
		case !slices.Contains(c.names, n.Value):
			c.names = append(c.names, n.Value)
		}
	}
}

// checkNames refuses names that are no field of any record, with the
// column of the first, and returns the fields the expression uses.
func checkNames(src string) ([]string, error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, columnError(err)
	}
	c := &nameChecker{callees: map[ast.Node]bool{}, declared: map[string]bool{}}
	ast.Walk(&tree.Node, c)
	if c.bad == nil {
		return c.names, nil
	}
	col := utf8.RuneCountInString(src[:min(len(src), byteOffset(src, c.bad.Location().From))]) + 1
	return nil, fmt.Errorf("column %d: unknown field %s (fields are those of the records: uri, code, severity, proxy, ...; see docs/records.md)", col, c.bad.Value)
}

// byteOffset converts a rune offset in s to a byte offset.
func byteOffset(s string, runes int) int {
	i := 0
	for b := range s {
		if i == runes {
			return b
		}
		i++
	}
	return len(s)
}

// Names returns the record fields the expression reads, each once: a
// caller that has only these may pass a map with only them to Match.
func (f *Filter) Names() []string { return f.names }

// String returns the expression.
func (f *Filter) String() string { return f.src }

// Match reports whether the record with these fields (see Fields of) passes.
// A record the expression cannot be evaluated on (a field it lacks) does
// not.
func (f *Filter) Match(fields map[string]any) bool {
	if fields == nil {
		return false
	}
	out, err := expr.Run(f.prog, fields)
	if err != nil {
		return false
	}
	b, _ := out.(bool)
	return b
}

// FieldsOf returns the fields of a record given as its JSON object, as
// Match takes them.
func FieldsOf(recordJSON []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(recordJSON, &m); err != nil {
		return nil
	}
	if s, ok := m["severity"].(string); ok {
		m["severity"] = Severity(s)
	}
	return m
}
