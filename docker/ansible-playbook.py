"""ansible-playbook from the controller mounted at /mnt/ansible. /mnt/ansible goes on this
process's sys.path only: as PYTHONPATH, every process Ansible starts would inherit it, and
its Python 2 backports (enum34, say) break Debian's python3 in package scripts."""
import runpy
import sys

sys.path.insert(0, "/mnt/ansible")
sys.argv[0] = "/mnt/ansible/bin/ansible-playbook"
runpy.run_path(sys.argv[0], run_name="__main__")
