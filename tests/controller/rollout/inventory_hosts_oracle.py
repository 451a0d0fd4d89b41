#!/usr/bin/python3
# Prints, for an inventory, the hosts ansible-core 2.14 matches for `all` and for every group,
# in the order a play would use them (InventoryManager.get_hosts with order=inventory).
# Usage: inventory_hosts_oracle.py INVENTORY [PLAYBOOK_DIR]
import json
import sys

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

loader = DataLoader()
inventory = InventoryManager(loader=loader, sources=[sys.argv[1]])
out = {'all': [h.name for h in inventory.get_hosts('all')]}
for name in inventory.groups:
    out['group:' + name] = [h.name for h in inventory.get_hosts(name)]
print(json.dumps(out, indent=2, sort_keys=True))
