package quality

import (
	"reflect"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestBudgetKnowsEverySubschema fails when the library's Schema gains a
// field that can hold a subschema the budget does not price: a new
// applicator would otherwise run unbudgeted.
func TestBudgetKnowsEverySubschema(t *testing.T) {
	known := map[string]string{
		"Ref": "in place", "RecursiveRef": "in place", "DynamicRef": "in place", "Not": "in place",
		"AllOf": "in place", "AnyOf": "in place", "OneOf": "in place", "If": "in place", "Then": "in place", "Else": "in place",
		"DependentSchemas": "in place", "Dependencies": "in place",
		"Properties": "members", "PatternProperties": "members", "AdditionalProperties": "members",
		"UnevaluatedProperties": "members", "PropertyNames": "members",
		"Items": "items", "AdditionalItems": "items", "PrefixItems": "items", "Items2020": "items",
		"Contains": "items", "UnevaluatedItems": "items",
		"Enum": "data", "Const": "data", "Default": "data", "Examples": "data", "ContentSchema": "unused: content assertions are off",
	}
	typ := reflect.TypeFor[jsonschema.Schema]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.IsExported() && holdsSchema(f.Type, map[reflect.Type]bool{}) && known[f.Name] == "" {
			t.Errorf("jsonschema.Schema.%s can hold a subschema that the budget does not price", f.Name)
		}
	}
	for name := range known {
		if _, ok := typ.FieldByName(name); !ok {
			t.Errorf("jsonschema.Schema has no field %s any more", name)
		}
	}
}

// holdsSchema reports whether a value of type t can hold a *Schema.
func holdsSchema(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == reflect.TypeFor[*jsonschema.Schema]() || t.Kind() == reflect.Interface && t.NumMethod() == 0 {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsSchema(t.Elem(), seen)
	case reflect.Map:
		return holdsSchema(t.Key(), seen) || holdsSchema(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsSchema(f.Type, seen) {
				return true
			}
		}
	}
	return false
}
