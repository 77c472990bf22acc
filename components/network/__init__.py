"""Network isolation: only the paths a stack lists are open between its workloads."""
