import json,sys
P={}
for l in open('probes.jsonl'):
    p=json.loads(l); P[p['name']]=p
R=json.load(open('results.json'))['results']
pat=sys.argv[1:] 
for r in R:
    p=P[r['name']]
    bad = (p['label']=='negative') == (r['decision'] in ('DENY','SANITIZE')) or (r['decision']=='SANITIZE' and any(v in json.dumps(r['sanitized_body'],ensure_ascii=False) for v in p['values']))
    if bad and (not pat or any(x in r['name'] for x in pat)):
        print('-----',r['name'],r['decision'],r['reason_codes'], [v[:60] for v in p['values'][:2]])
        print(json.dumps(p['request']['body'],ensure_ascii=False)[:400])
        if r['decision']=='SANITIZE': print('  SAN:',json.dumps(r['sanitized_body'],ensure_ascii=False)[:400])
