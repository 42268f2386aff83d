/*
 * The guest's DWARF, read with elfutils' libdw: source lines, function
 * names (inlined ones included) and call frame information. Only the
 * evaluation of the few DWARF expression operations that CFI rules use is
 * ours: libdw describes each rule as an expression, and the values it needs
 * (registers, memory) are the guest's, not a process's.
 */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

#include "triage.h"

struct msf_dwarf {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	char *scope_name; /* the last name msf_dwarf_function returned */
};

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

int msf_dwarf_open(const char *path, msf_dwarf **out)
{
	*out = NULL;
	msf_dwarf *d = calloc(1, sizeof *d);
	if (!d)
		return -1;
	d->dwfl = dwfl_begin(&offline_callbacks);
	if (d->dwfl) {
		dwfl_report_begin(d->dwfl);
		d->mod = dwfl_report_offline(d->dwfl, "guest", path, -1);
		dwfl_report_end(d->dwfl, NULL, NULL);
	}
	if (!d->mod) {
		msf_dwarf_close(d);
		return -1;
	}
	*out = d;
	return 0;
}

void msf_dwarf_close(msf_dwarf *d)
{
	if (!d)
		return;
	if (d->dwfl)
		dwfl_end(d->dwfl);
	free(d->scope_name);
	free(d);
}

int msf_dwarf_source(msf_dwarf *d, uint64_t addr, const char **file, int *line)
{
	*file = NULL;
	*line = 0;
	if (!d)
		return 0;
	Dwfl_Line *l = dwfl_module_getsrc(d->mod, addr);
	int lineno = 0;
	const char *f = l ? dwfl_lineinfo(l, NULL, &lineno, NULL, NULL, NULL) : NULL;
	if (!f || lineno <= 0)
		return 0;
	*file = f;
	*line = lineno;
	return 1;
}

const char *msf_dwarf_function(msf_dwarf *d, uint64_t addr)
{
	if (!d)
		return NULL;
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dwfl_module_addrdie(d->mod, addr, &bias);
	Dwarf_Die *scopes = NULL;
	int n = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
	const char *name = NULL;
	for (int i = 0; i < n && !name; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine)
			name = dwarf_diename(&scopes[i]);
	}
	free(scopes);
	free(d->scope_name);
	d->scope_name = name ? strdup(name) : NULL;
	return d->scope_name;
}

/* Evaluates a CFI rule's expression. `cfa` is what DW_OP_call_frame_cfa
 * pushes. *is_value: the result is the register's value (DW_OP_stack_value)
 * rather than the address it was saved at. */
static int eval(const Dwarf_Op *ops, size_t n, const msf_regs *r, uint64_t cfa, uint64_t mask,
		msf_read_word read, void *arg, uint64_t *res, int *is_value)
{
	uint64_t st[16];
	size_t sp = 0;
	*is_value = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t op = ops[i].atom;
		uint64_t reg = ~0ull, v;
		if (op >= DW_OP_breg0 && op <= DW_OP_breg31)
			reg = op - DW_OP_breg0;
		else if (op == DW_OP_bregx)
			reg = ops[i].number;
		if (reg != ~0ull) {
			if (reg >= MSF_DWARF_REGS || !(r->valid & (1u << reg)) || sp == 16)
				return -1;
			int64_t off =
			    op == DW_OP_bregx ? (int64_t)ops[i].number2 : (int64_t)ops[i].number;
			st[sp++] = (r->r[reg] + (uint64_t)off) & mask;
			continue;
		}
		if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
			if (sp == 16)
				return -1;
			st[sp++] = op - DW_OP_lit0;
			continue;
		}
		switch (op) {
		case DW_OP_call_frame_cfa:
		case DW_OP_const1u:
		case DW_OP_const1s:
		case DW_OP_const2u:
		case DW_OP_const2s:
		case DW_OP_const4u:
		case DW_OP_const4s:
		case DW_OP_const8u:
		case DW_OP_const8s:
		case DW_OP_constu:
		case DW_OP_consts:
			if (sp == 16)
				return -1;
			st[sp++] = op == DW_OP_call_frame_cfa ? cfa : ops[i].number;
			break;
		case DW_OP_plus_uconst:
			if (!sp)
				return -1;
			st[sp - 1] = (st[sp - 1] + ops[i].number) & mask;
			break;
		case DW_OP_plus:
		case DW_OP_minus:
		case DW_OP_and:
			if (sp < 2)
				return -1;
			v = st[--sp];
			st[sp - 1] = op == DW_OP_plus	 ? st[sp - 1] + v
				     : op == DW_OP_minus ? st[sp - 1] - v
							 : st[sp - 1] & v;
			st[sp - 1] &= mask;
			break;
		case DW_OP_deref:
			if (!sp || read(arg, st[sp - 1], &st[sp - 1]))
				return -1;
			break;
		case DW_OP_stack_value:
			if (i + 1 != n)
				return -1;
			*is_value = 1;
			break;
		default:
			return -1;
		}
	}
	if (!sp)
		return -1;
	*res = st[sp - 1];
	return 0;
}

int msf_dwarf_cfi_step(msf_dwarf *d, uint64_t lookup, int pc_reg, int sp_reg, int word,
		       const msf_regs *in, msf_regs *out, msf_read_word read, void *arg)
{
	if (!d)
		return -1;
	Dwarf_Frame *frame = NULL;
	Dwarf_Addr bias = 0;
	Dwarf_CFI *cfis[2];
	Dwarf_Addr biases[2];
	cfis[0] = dwfl_module_eh_cfi(d->mod, &biases[0]);
	cfis[1] = dwfl_module_dwarf_cfi(d->mod, &biases[1]);
	for (int i = 0; i < 2 && !frame; i++)
		if (cfis[i] && dwarf_cfi_addrframe(cfis[i], lookup - biases[i], &frame) == 0)
			bias = biases[i];
		else
			frame = NULL;
	(void)bias;
	if (!frame)
		return -1;
	uint64_t mask = word == 4 ? 0xffffffffull : ~0ull;
	int rc = -1;
	Dwarf_Op *ops;
	size_t nops;
	uint64_t cfa;
	int is_value;
	int ra = dwarf_frame_info(frame, NULL, NULL, NULL);
	if (ra < 0 || ra >= MSF_DWARF_REGS || dwarf_frame_cfa(frame, &ops, &nops) ||
	    eval(ops, nops, in, 0, mask, read, arg, &cfa, &is_value))
		goto out;
	memset(out, 0, sizeof *out);
	for (int reg = 0; reg < MSF_DWARF_REGS; reg++) {
		Dwarf_Op mem[3];
		uint64_t v;
		if (dwarf_frame_register(frame, reg, mem, &ops, &nops))
			continue; /* not a register CFI knows: unknown in the caller */
		if (!nops) {
			/* ops NULL: "same value"; ops_mem: "undefined". */
			if (!ops && (in->valid & (1u << reg))) {
				out->r[reg] = in->r[reg];
				out->valid |= 1u << reg;
			}
			continue;
		}
		if (eval(ops, nops, in, cfa, mask, read, arg, &v, &is_value) ||
		    (!is_value && read(arg, v, &v)))
			continue;
		out->r[reg] = v & mask;
		out->valid |= 1u << reg;
	}
	/* The caller's pc is the return address column; its stack pointer is the
	 * CFA, by definition. */
	if (!(out->valid & (1u << ra)))
		goto out;
	uint64_t ret = out->r[ra];
	out->r[pc_reg] = ret;
	out->valid |= 1u << pc_reg;
	out->r[sp_reg] = cfa;
	out->valid |= 1u << sp_reg;
	rc = 0;
out:
	free(frame);
	return rc;
}
