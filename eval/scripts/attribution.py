"""Replays the engine's attribution choice on the supports `rag eval qa --json` records per sentence
(records[].attributions), under other tie-breaking rules and thresholds, and lists the attributions that miss the
gold paragraph. Usage: python3 eval/scripts/attribution.py run.json"""
import json, sys
d = json.load(open(sys.argv[1]))
traces = [a for r in d['records'] if r['answerable'] for a in r['attributions']]
print('engine-attributed sentences (answerable):', len(traces), 'reported precision', d.get('engine_attribution_precision'))
def choose(a, rule, m=0.05, t=0.6):
    sup = a['supports']
    top = max(s[1] for s in sup)
    if top < t: return None
    near = [s for s in sup if s[1] >= top - m]
    if rule == 'current':
        best = None
        for s in near:
            if best is None or s[2] > best[2]: best = s
        return best[0]
    if rule == 'cited':
        c = [s for s in near if s[0] in a['model_cited']]
        pool = c or near
        best = None
        for s in pool:
            if best is None or s[2] > best[2]: best = s
        return best[0]
    if rule == 'rank':
        return near[0][0]
    if rule == 'pairs_then_rank_strict':
        return max(near, key=lambda s: (s[2], -s[0]))[0]
def prec(rule, **kw):
    right = n = 0
    for a in traces:
        c = choose(a, rule, **kw)
        if c is None: continue
        n += 1
        right += c in a['gold']
    return round(right / max(n, 1), 3), n
print('check current (t=0):', prec('current', t=0))
for rule in ['current', 'cited', 'rank']:
    for m in [0.0, 0.05, 0.1, 0.2, 0.3]:
        print(rule, m, prec(rule, m=m, t=0))
for t in [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]:
    print('threshold', t, prec('current', t=t))
# where does the gold rank among candidates for wrong ones
wrong = [a for a in traces if a['chosen'] not in a['gold']]
print('wrong:', len(wrong), 'of which gold not among passages:', sum(1 for a in wrong if not a['gold']))
for a in wrong[:40]:
    print(round(max(s[1] for s in a['supports']),2), a['chosen'], a['gold'], a['model_cited'], [(s[0], round(s[1],2), s[2]) for s in a['supports']], '|', a['sentence'][:150])
