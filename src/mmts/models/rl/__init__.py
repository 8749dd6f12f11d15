"""The RL agent: a trading environment on the shared cost model and a double + dueling DQN."""
